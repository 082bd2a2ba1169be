/*
 * sys_sqlite.c - SQLite in WAL mode used as a log: one database file per
 * log, one table per partition (seq INTEGER PRIMARY KEY, key BLOB, value
 * BLOB), one transaction per produce call through a prepared INSERT, one
 * connection per thread (SQLITE_OPEN_NOMUTEX), busy_timeout 10 s so that
 * writers wait for each other; a 64 MiB page cache and a 1 GiB mmap, the
 * settings its users would make for this.
 *
 *   sqlite-normal  synchronous=NORMAL: a commit is written to the WAL but
 *                  not synced (survives a crash of the process, not a
 *                  power cut: samsa without sync);
 *   sqlite-full    synchronous=FULL: the WAL is synced at every commit
 *                  (samsa-sync; SQLite has one writer at a time).
 *
 * SQLite has no way to wait for new rows: a consumer at the end polls,
 * re-running its SELECT.
 */
#include "bench.h"
#include "systems.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_PARTS 4

typedef struct qlog {
    const char *sync; /* "NORMAL" or "FULL"                              */
    char path[4200];
    int parts;
    size_t vlen;
} qlog;

typedef struct qprod {
    qlog *l;
    sqlite3 *db;
    sqlite3_stmt *insert[MAX_PARTS], *begin, *commit;
} qprod;

typedef struct qcons {
    qlog *l;
    sqlite3 *db;
    sqlite3_stmt *select;
    int64_t next; /* the seq it returns next                         */
    int active;   /* select has been stepped since its last reset    */
} qcons;

static void
q_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        bench_die("sqlite: %s: %s", sql, err != NULL ? err : "?");
}

static void
q_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        bench_die("sqlite: %s: %s", sql, sqlite3_errmsg(db));
}

static sqlite3 *
q_connect(qlog *l)
{
    sqlite3 *db;
    char sql[128];
    int rc = sqlite3_open_v2(
        l->path, &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        bench_die("sqlite: open %s: %s", l->path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 10000);
    q_exec(db, "PRAGMA journal_mode=WAL");
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", l->sync);
    q_exec(db, sql);
    q_exec(db, "PRAGMA cache_size=-65536");
    q_exec(db, "PRAGMA mmap_size=1073741824");
    return db;
}

static void *
q_open(bench_sys *sys, const char *name, int parts, size_t vlen)
{
    qlog *l = calloc(1, sizeof *l);
    char file[160], sql[160];
    BENCH_CHECK(l != NULL && parts <= MAX_PARTS, "sqlite: out of memory");
    l->sync = sys->cfg;
    l->parts = parts;
    l->vlen = vlen;
    snprintf(file, sizeof file, "%s-%s.db", sys->name, name);
    bench_path(l->path, sizeof l->path, file);
    sqlite3 *db = q_connect(l);
    for (int i = 0; i < parts; i++) {
        snprintf(sql, sizeof sql,
                 "CREATE TABLE p%d (seq INTEGER PRIMARY KEY, key BLOB NOT "
                 "NULL, value BLOB NOT NULL)",
                 i);
        q_exec(db, sql);
    }
    sqlite3_close(db);
    return l;
}

static void
q_drop(void *log)
{
    qlog *l = log;
    char p[4300];
    remove(l->path);
    snprintf(p, sizeof p, "%s-wal", l->path);
    remove(p);
    snprintf(p, sizeof p, "%s-shm", l->path);
    remove(p);
    free(l);
}

static void *
q_producer(void *log)
{
    qprod *p = calloc(1, sizeof *p);
    char sql[96];
    BENCH_CHECK(p != NULL, "out of memory");
    p->l = log;
    p->db = q_connect(p->l);
    for (int i = 0; i < p->l->parts; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO p%d VALUES (?, ?, ?)", i);
        q_prepare(p->db, sql, &p->insert[i]);
    }
    q_prepare(p->db, "BEGIN IMMEDIATE", &p->begin);
    q_prepare(p->db, "COMMIT", &p->commit);
    return p;
}

static void
q_step_done(qprod *p, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        bench_die("sqlite: %s: %s", sqlite3_sql(st), sqlite3_errmsg(p->db));
    sqlite3_reset(st);
}

static void
q_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    qprod *p = prod;
    sqlite3_stmt *ins = p->insert[part];
    if (n > 1)
        q_step_done(p, p->begin);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)bench_get_u64(keys[i]));
        sqlite3_bind_blob(ins, 2, keys[i], BENCH_KEY_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 3, values[i], (int)p->l->vlen, SQLITE_STATIC);
        q_step_done(p, ins);
    }
    if (n > 1)
        q_step_done(p, p->commit);
}

static void
q_producer_close(void *prod)
{
    qprod *p = prod;
    for (int i = 0; i < p->l->parts; i++)
        sqlite3_finalize(p->insert[i]);
    sqlite3_finalize(p->begin);
    sqlite3_finalize(p->commit);
    sqlite3_close(p->db);
    free(p);
}

static void *
q_consumer(void *log, int part)
{
    qcons *c = calloc(1, sizeof *c);
    char sql[96];
    BENCH_CHECK(c != NULL, "out of memory");
    c->l = log;
    c->db = q_connect(c->l);
    snprintf(sql, sizeof sql,
             "SELECT key, value FROM p%d WHERE seq >= ? ORDER BY seq", part);
    q_prepare(c->db, sql, &c->select);
    return c;
}

static int
q_next(void *cons, int wait, const unsigned char **key,
       const unsigned char **value, size_t *vlen)
{
    qcons *c = cons;
    uint64_t deadline = wait ? bench_now_ns() + 10000000000u : 0;
    for (;;) {
        if (!c->active) {
            sqlite3_reset(c->select);
            sqlite3_bind_int64(c->select, 1, c->next);
            c->active = 1;
        }
        int rc = sqlite3_step(c->select);
        if (rc == SQLITE_ROW) {
            BENCH_CHECK(sqlite3_column_bytes(c->select, 0) == BENCH_KEY_LEN,
                        "sqlite: key of the wrong size");
            *key = sqlite3_column_blob(c->select, 0);
            *value = sqlite3_column_blob(c->select, 1);
            *vlen = (size_t)sqlite3_column_bytes(c->select, 1);
            c->next++;
            return 1;
        }
        if (rc != SQLITE_DONE)
            bench_die("sqlite: select: %s", sqlite3_errmsg(c->db));
        c->active = 0; /* at the end of this snapshot: poll again */
        if (bench_now_ns() >= deadline)
            return 0;
    }
}

static void
q_consumer_close(void *cons)
{
    qcons *c = cons;
    sqlite3_finalize(c->select);
    sqlite3_close(c->db);
    free(c);
}

#define SQLITE_SYS(name, durability, caps, slow, batch, cfg)                   \
    {                                                                          \
        name, durability, caps, slow, batch, cfg, NULL, NULL, q_open, q_drop,  \
            q_producer, q_produce, NULL, q_producer_close, q_consumer, q_next, \
            q_consumer_close                                                   \
    }

bench_sys bench_sqlite_normal = SQLITE_SYS("sqlite-normal", "process",
                                           BENCH_CAN_PRODUCE | BENCH_CAN_READ |
                                               BENCH_CAN_LATENCY | BENCH_PIN,
                                           100, 10, "NORMAL");
bench_sys bench_sqlite_full = SQLITE_SYS(
    "sqlite-full", "fsync", BENCH_CAN_PRODUCE | BENCH_CAN_LATENCY | BENCH_PIN,
    1000, 1000, "FULL");
