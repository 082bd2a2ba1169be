/*
 * replicas.c - a store over three directories, one of which goes away and
 * comes back while a producer keeps writing.
 *
 *   build/examples/replicas [DIR]        (default: replicas-demo)
 *
 * DIR/a is the store's directory, DIR/b and DIR/c its replica directories
 * (on a real system, three devices).  Topic "orders" has three partitions
 * with three copies each; partition p leads on the p-th directory.  A
 * producer thread writes to every partition, with the sync policy on,
 * while the main thread removes DIR/b with everything in it, waits, and
 * makes it again, empty.  The printout shows the copies on DIR/b leaving
 * the in-sync set, partition 1's leader moving, and the background
 * catch-up bringing DIR/b back.  At the end, every record the producer had
 * acknowledged is read back from each directory on its own.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <samsa.h>

#define PARTS   3
#define MAX_ACK 1000000

static const char *TOPIC = "orders";
static const char *NAMES[] = {"a", "b", "c"};

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "replicas: %s: %s\n", what, samsa_strerror(rc));
        exit(1);
    }
}

/* Called by samsa on a copy's state change; only prints. */
static void
on_replica(const samsa_replica_event *ev, void *ctx)
{
    (void)ctx;
    static const char *what[] = {"?", "left the in-sync set",
                                 "rejoined the in-sync set", "now leads"};
    printf("  event: %s-%" PRId32 " copy on %s %s at offset %" PRId64
           " (epoch %" PRId32 ")%s%s\n",
           ev->topic, ev->partition, ev->dir >= 0 ? NAMES[ev->dir] : "?",
           what[ev->type], ev->offset, ev->leader_epoch,
           ev->reason != 0 ? ": " : "",
           ev->reason != 0 ? samsa_strerror(ev->reason) : "");
}

static samsa *store;
static atomic_bool stop;
static int64_t acked[PARTS]; /* per partition: offsets below are acked */

static void *
producer(void *arg)
{
    (void)arg;
    for (int64_t i = 0; !atomic_load(&stop) && i < MAX_ACK; i++) {
        char value[32];
        int32_t p = (int32_t)(i % PARTS);
        snprintf(value, sizeof value, "order-%" PRId64, i / PARTS);
        samsa_record r = {.value = value, .value_len = strlen(value)};
        int rc = samsa_produce(store, TOPIC, p, &r, 1);
        if (rc != 0) {
            fprintf(stderr, "replicas: produce: %s\n", samsa_strerror(rc));
            continue;
        }
        if (r.offset != acked[p]) { /* offsets must stay dense */
            fprintf(stderr,
                    "replicas: offset %" PRId64 ", expected %" PRId64 "\n",
                    r.offset, acked[p]);
            exit(1);
        }
        acked[p] = r.offset + 1;
        usleep(200);
    }
    return NULL;
}

static void
print_status(const char *when)
{
    printf("%s\n", when);
    for (int32_t p = 0; p < PARTS; p++) {
        samsa_replica_info info[3];
        size_t n;
        check(samsa_replica_status(store, TOPIC, p, info, 3, &n), "status");
        printf("  %s-%" PRId32 ":", TOPIC, p);
        for (size_t i = 0; i < n && i < 3; i++)
            printf(" %s%s%s", info[i].dir >= 0 ? NAMES[info[i].dir] : "?",
                   info[i].leader ? "(leader)" : "",
                   info[i].state == SAMSA_REPLICA_INSYNC ? "" : "(out)");
        printf("\n");
    }
}

static int
all_in_sync(void)
{
    for (int32_t p = 0; p < PARTS; p++) {
        samsa_replica_info info[3];
        size_t n;
        check(samsa_replica_status(store, TOPIC, p, info, 3, &n), "status");
        for (size_t i = 0; i < n; i++)
            if (info[i].state != SAMSA_REPLICA_INSYNC)
                return 0;
    }
    return 1;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Reopen directory d alone and read every acknowledged record back. */
static void
verify_alone(const char *d)
{
    samsa *s;
    check(samsa_open(d, NULL, &s), "open one directory");
    for (int32_t p = 0; p < PARTS; p++) {
        samsa_cursor *c;
        samsa_message m;
        check(samsa_cursor_open(s, TOPIC, p, SAMSA_OFFSET_BEGINNING, &c),
              "cursor");
        for (int64_t o = 0; o < acked[p]; o++) {
            char want[32];
            snprintf(want, sizeof want, "order-%" PRId64, o);
            check(samsa_cursor_next(c, &m, 0), "read");
            if (m.offset != o || m.value_len != strlen(want) ||
                memcmp(m.value, want, m.value_len) != 0) {
                fprintf(stderr, "replicas: %s: wrong record at %" PRId64 "\n",
                        d, o);
                exit(1);
            }
        }
        samsa_cursor_close(c);
    }
    check(samsa_close(s), "close");
    printf("  %s alone: all %" PRId64 " acknowledged records, in order\n", d,
           acked[0] + acked[1] + acked[2]);
}

int
main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "replicas-demo";
    char dirs[3][4096];
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS); /* start afresh */
    mkdir(base, 0755);
    for (int i = 0; i < 3; i++)
        snprintf(dirs[i], sizeof dirs[i], "%s/%s", base, NAMES[i]);
    const char *replicas[] = {dirs[1], dirs[2], NULL};
    samsa_options opt = {.replica_dirs = replicas,
                         .sync = SAMSA_SYNC_ALWAYS,
                         .flags = SAMSA_OPEN_CREATE,
                         .on_replica = on_replica};
    check(samsa_open(dirs[0], &opt, &store), "open");
    samsa_topic_config cfg = {.partitions = PARTS,
                              .replicas = 3,
                              .min_insync = 2,
                              .segment_bytes = 64 << 10};
    check(samsa_topic_create(store, TOPIC, &cfg), "create topic");
    print_status("three directories, every copy in sync:");

    pthread_t th;
    pthread_create(&th, NULL, producer, NULL);
    usleep(300 * 1000);
    printf("removing %s while producing\n", dirs[1]);
    nftw(dirs[1], rm_one, 16, FTW_DEPTH | FTW_PHYS);
    usleep(1500 * 1000);
    print_status("with b gone (min_insync 2: producing goes on):");
    printf("making %s again, empty\n", dirs[1]);
    mkdir(dirs[1], 0755);
    for (int i = 0; i < 100 && !all_in_sync(); i++)
        usleep(100 * 1000); /* the flusher catches up about once a second */
    print_status(all_in_sync() ? "after the background catch-up:"
                               : "catch-up still running:");
    usleep(300 * 1000);
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    printf("acknowledged: %" PRId64 " + %" PRId64 " + %" PRId64 " records\n",
           acked[0], acked[1], acked[2]);

    samsa_scrub_report rep;
    check(samsa_scrub(store, NULL, &rep), "scrub");
    printf("scrub: %" PRIu64 " segment files, %" PRIu64 " batches checked; "
           "%" PRIu64 " damaged, %" PRIu64 " missing\n",
           rep.segments, rep.batches, rep.damaged, rep.missing);
    check(samsa_close(store), "close");
    printf("every copy on its own:\n");
    for (int i = 0; i < 3; i++)
        verify_alone(dirs[i]);
    return 0;
}
