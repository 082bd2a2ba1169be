/*
 * admin.c - what an operator asks of a store: its groups, of both kinds
 * (samsa_group_list), and its figures (samsa_stats*).
 *
 * This file sits on top with samsa.c, because the answers gather every
 * layer: partitions from the store, consumer groups from group/, share
 * groups from queue/.  Figures are collected under the locks and copied
 * out; the caller's callbacks run with no samsa lock held.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/group.h"
#include "queue/queue.h"

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- groups ---------------------------------------------------------------
 */

SAMSA_API int
samsa_group_list(samsa *s,
                 int (*fn)(const char *name, samsa_group_type type, void *ctx),
                 void *ctx)
{
    if (s == NULL || fn == NULL)
        return SAMSA_EINVAL;
    char **names[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    int rc = group_list_names(s, &names[0], &n[0]);
    if (rc == 0)
        rc = queue_list_names(s, &names[1], &n[1]);
    for (int k = 0; k < 2; k++) {
        if (n[k] > 1)
            qsort(names[k], n[k], sizeof *names[k], str_cmp);
        for (size_t i = 0; rc == 0 && i < n[k]; i++)
            rc = fn(names[k][i],
                    k == 0 ? SAMSA_GROUP_CONSUMER : SAMSA_GROUP_SHARE, ctx);
        catalog_names_free(names[k], n[k]);
    }
    return rc;
}

/* ---- partitions -----------------------------------------------------------
 */

static int
topic_cmp(const void *a, const void *b)
{
    return strcmp((*(topic *const *)a)->name, (*(topic *const *)b)->name);
}

static void
parts_free(samsa_partition_stats *st, size_t n)
{
    for (size_t i = 0; st != NULL && i < n; i++)
        if (st[i].partition == 0) /* the topic's name is shared by its
                                     partitions: the first owns it */
            free((char *)st[i].topic);
    free(st);
}

/* The figures of every partition of one topic (name) or all (NULL), in
 * name and partition order: *out (parts_free()), *n. */
static int
parts_collect(samsa *s, const char *name, samsa_partition_stats **out,
              size_t *nout)
{
    if (name != NULL && !topic_name_valid(name))
        return SAMSA_EINVAL;
    if (s->rdonly) /* topics the writer made or deleted since */
        (void)store_follow_catalog(s, false);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    size_t nt = 0, np = 0;
    topic **ts = malloc((s->ntopics + 1) * sizeof *ts);
    int rc = ts == NULL ? SAMSA_ENOMEM : 0;
    for (size_t b = 0; rc == 0 && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next)
            if (name == NULL || strcmp(t->name, name) == 0) {
                ts[nt++] = t;
                np += (size_t)t->cfg.partitions;
            }
    if (rc == 0 && name != NULL && nt == 0)
        rc = SAMSA_ENOTOPIC;
    samsa_partition_stats *st = NULL;
    if (rc == 0 && (st = calloc(np + 1, sizeof *st)) == NULL)
        rc = SAMSA_ENOMEM;
    if (rc == 0 && nt > 1)
        qsort(ts, nt, sizeof *ts, topic_cmp);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < nt; i++) {
        char *tname = strdup(ts[i]->name);
        if (tname == NULL) {
            rc = SAMSA_ENOMEM;
            break;
        }
        for (int32_t p = 0; p < ts[i]->cfg.partitions; p++, k++) {
            partition_stats(ts[i]->parts[p], &st[k]);
            st[k].topic = tname;
            st[k].partition = p;
        }
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    free(ts);
    if (rc != 0) {
        parts_free(st, k);
        return rc;
    }
    *out = st;
    *nout = np;
    return 0;
}

SAMSA_API int
samsa_stats_partitions(samsa *s, const char *topic_name,
                       int (*fn)(const samsa_partition_stats *p, void *ctx),
                       void *ctx)
{
    if (s == NULL || fn == NULL)
        return SAMSA_EINVAL;
    samsa_partition_stats *st = NULL;
    size_t n = 0;
    int rc = parts_collect(s, topic_name, &st, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(&st[i], ctx);
    parts_free(st, n);
    return rc;
}

/* ---- share groups ---------------------------------------------------------
 */

static int
share_cmp(const void *a, const void *b)
{
    const samsa_share_stats *x = a, *y = b;
    int d = strcmp(x->group, y->group);
    if (d == 0)
        d = strcmp(x->topic, y->topic);
    return d != 0
               ? d
               : (x->partition > y->partition) - (x->partition < y->partition);
}

static int
shares_collect(samsa *s, samsa_share_stats **st, size_t *n)
{
    int rc = queue_stats_collect(s, st, n);
    if (rc == 0 && *n > 1)
        qsort(*st, *n, sizeof **st, share_cmp);
    return rc;
}

SAMSA_API int
samsa_stats_shares(samsa *s, int (*fn)(const samsa_share_stats *q, void *ctx),
                   void *ctx)
{
    if (s == NULL || fn == NULL)
        return SAMSA_EINVAL;
    samsa_share_stats *st = NULL;
    size_t n = 0;
    int rc = shares_collect(s, &st, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(&st[i], ctx);
    queue_stats_free(st, n);
    return rc;
}

/* ---- totals ---------------------------------------------------------------
 */

static int
count_group(const char *name, samsa_group_type type, void *ctx)
{
    (void)name;
    samsa_store_stats *st = ctx;
    if (type == SAMSA_GROUP_CONSUMER)
        st->consumer_groups++;
    else
        st->share_groups++;
    return 0;
}

/* Add one partition's figures to the totals. */
static void
totals_add(samsa_store_stats *st, const samsa_partition_stats *p)
{
    st->partitions++;
    st->topics += p->partition == 0;
    st->segments += p->segments;
    st->records += p->records;
    st->bytes += p->bytes;
    st->open_files += p->open_files;
    st->under_replicated += p->insync < p->copies;
}

SAMSA_API int
samsa_stats(samsa *s, samsa_store_stats *st)
{
    if (s == NULL || st == NULL)
        return SAMSA_EINVAL;
    samsa_store_stats t;
    memset(&t, 0, sizeof t);
    samsa_partition_stats *ps = NULL;
    size_t n = 0;
    int rc = parts_collect(s, NULL, &ps, &n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        totals_add(&t, &ps[i]);
    parts_free(ps, n);
    rc = samsa_group_list(s, count_group, &t);
    if (rc == 0)
        *st = t;
    return rc;
}

/* ---- JSON -----------------------------------------------------------------
 */

/* A growing string; after a failed allocation every append is a no-op
 * and failed stays set. */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    bool failed;
} jbuf;

static void
jb_printf(jbuf *b, const char *fmt, ...)
{
    if (b->p == NULL && !b->failed) {
        b->failed = (b->p = malloc(b->cap = 4096)) == NULL;
        b->cap = b->failed ? 0 : b->cap;
    }
    for (int tries = 0; !b->failed && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *m = realloc(b->p, cap);
        if (m == NULL) {
            b->failed = true;
            return;
        }
        b->p = m;
        b->cap = cap;
    }
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void
jb_string(jbuf *b, const char *s)
{
    jb_printf(b, "\"");
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            jb_printf(b, "\\%c", c);
        else if (c < 0x20)
            jb_printf(b, "\\u%04x", c);
        else
            jb_printf(b, "%c", c);
    }
    jb_printf(b, "\"");
}

static void
jb_partition(jbuf *b, const samsa_partition_stats *p)
{
    jb_printf(b, "{\"topic\":");
    jb_string(b, p->topic);
    jb_printf(b,
              ",\"partition\":%" PRId32 ",\"segments\":%" PRIu32
              ",\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"records\":%" PRId64
              ",\"bytes\":%" PRIu64 ",\"copies\":%" PRIu32
              ",\"insync\":%" PRIu32 ",\"open_files\":%" PRIu32,
              p->partition, p->segments, p->start, p->end, p->records, p->bytes,
              p->copies, p->insync, p->open_files);
    /* Only where set: a dense partition's object is as it always was. */
    jb_printf(b, "%s}",
              p->flags & SAMSA_PARTITION_GAPS ? ",\"gaps\":true" : "");
}

static void
jb_share(jbuf *b, const samsa_share_stats *q)
{
    jb_printf(b, "{\"group\":");
    jb_string(b, q->group);
    jb_printf(b, ",\"topic\":");
    jb_string(b, q->topic);
    jb_printf(b,
              ",\"partition\":%" PRId32 ",\"receivers\":%" PRIu32
              ",\"start\":%" PRId64 ",\"acquired\":%" PRId64
              ",\"available\":%" PRId64 ",\"dead_lettered\":%" PRId64 "}",
              q->partition, q->receivers, q->start, q->acquired, q->available,
              q->dead_lettered);
}

typedef struct jgroups {
    samsa *s;
    jbuf *b;
    bool first;     /* no group written yet */
    bool first_off; /* no offset of this group written yet */
} jgroups;

static int
jb_offset(const samsa_group_offset *o, void *ctx)
{
    jgroups *j = ctx;
    jb_printf(j->b, "%s{\"topic\":", j->first_off ? "" : ",");
    j->first_off = false;
    jb_string(j->b, o->topic);
    jb_printf(j->b,
              ",\"partition\":%" PRId32 ",\"committed\":%" PRId64
              ",\"end\":%" PRId64 ",\"lag\":%" PRId64 "}",
              o->partition, o->committed, o->end, o->lag);
    return 0;
}

static int
jb_group(const char *name, samsa_group_type type, void *ctx)
{
    jgroups *j = ctx;
    if (type != SAMSA_GROUP_CONSUMER)
        return 0;
    jb_printf(j->b, "%s{\"group\":", j->first ? "" : ",");
    j->first = false;
    jb_string(j->b, name);
    jb_printf(j->b, ",\"offsets\":[");
    j->first_off = true;
    int rc = samsa_group_offsets(j->s, name, jb_offset, j);
    jb_printf(j->b, "]}");
    return rc;
}

SAMSA_API int
samsa_stats_json(samsa *s, char **json)
{
    if (s == NULL || json == NULL)
        return SAMSA_EINVAL;
    samsa_partition_stats *ps = NULL;
    samsa_share_stats *qs = NULL;
    size_t np = 0, nq = 0;
    samsa_store_stats t;
    memset(&t, 0, sizeof t);
    jbuf b = {0};
    int rc = parts_collect(s, NULL, &ps, &np);
    if (rc == 0)
        rc = shares_collect(s, &qs, &nq);
    for (size_t i = 0; rc == 0 && i < np; i++)
        totals_add(&t, &ps[i]);
    if (rc == 0)
        rc = samsa_group_list(s, count_group, &t);
    if (rc == 0) {
        jb_printf(&b,
                  "{\"topics\":%" PRIu32 ",\"partitions\":%" PRIu32
                  ",\"segments\":%" PRIu64 ",\"records\":%" PRId64
                  ",\"bytes\":%" PRIu64 ",\"open_files\":%" PRIu32
                  ",\"under_replicated\":%" PRIu32 ",\"topic_partitions\":[",
                  t.topics, t.partitions, t.segments, t.records, t.bytes,
                  t.open_files, t.under_replicated);
        for (size_t i = 0; i < np; i++) {
            jb_printf(&b, i > 0 ? "," : "");
            jb_partition(&b, &ps[i]);
        }
        jb_printf(&b, "],\"consumer_groups\":[");
        jgroups j = {s, &b, true, true};
        rc = samsa_group_list(s, jb_group, &j);
        jb_printf(&b, "],\"share_groups\":[");
        for (size_t i = 0; i < nq; i++) {
            jb_printf(&b, i > 0 ? "," : "");
            jb_share(&b, &qs[i]);
        }
        jb_printf(&b, "]}");
    }
    parts_free(ps, np);
    queue_stats_free(qs, nq);
    if (rc == 0 && b.failed)
        rc = SAMSA_ENOMEM;
    if (rc != 0) {
        free(b.p);
        return rc;
    }
    *json = b.p;
    return 0;
}
