/*
 * kapi_admin.c - topics administered over Kafka's protocol: CreateTopics
 * (key 19), DeleteTopics (20), CreatePartitions (37), DeleteRecords (21).
 *
 * Each maps onto the public call that does the same in-process
 * (samsa_topic_create, samsa_topic_delete, samsa_topic_add_partitions,
 * samsa_delete_records), so the rules, the crash safety and the errors
 * are theirs.  CreateTopics takes Kafka's topic configs by their Kafka
 * names (CONFIGS below); a name samsa does not keep, or a value it cannot
 * take, refuses that topic with INVALID_CONFIG, as Kafka refuses an
 * unknown config.  Replica assignments name brokers, and this cluster has
 * one: a request with assignments is refused (INVALID_REQUEST); the
 * replication factor is samsa's copies on the store's directories.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"

#define KERR_INVALID_TOPIC              17
#define KERR_TOPIC_ALREADY_EXISTS       36
#define KERR_INVALID_PARTITIONS         37
#define KERR_INVALID_REPLICATION_FACTOR 38
#define KERR_INVALID_CONFIG             40

/* A decimal value of a config, or false. */
static bool
config_int(kstr v, int64_t min, int64_t *out)
{
    char *z = kstr_dup(v), *end;
    if (z == NULL)
        return false;
    errno = 0;
    long long n = strtoll(z, &end, 10);
    bool ok = *z != '\0' && *end == '\0' && errno == 0 && n >= min;
    free(z);
    *out = n;
    return ok;
}

/* Apply Kafka config name = value to cfg; false when samsa cannot. */
static bool
config_apply(samsa_topic_config *cfg, kstr name, kstr value)
{
    static const char *const codecs[] = {"uncompressed", "gzip", "snappy",
                                         "lz4", "zstd"};
    int64_t n;
    if (kstr_eq(name, "compression.type")) {
        for (int i = 0; i < 5; i++)
            if (kstr_eq(value, codecs[i]) ||
                (i == 0 && kstr_eq(value, "producer"))) {
                cfg->compression = i;
                return true;
            }
        return false;
    }
    if (kstr_eq(name, "message.timestamp.type")) {
        cfg->timestamp_type = kstr_eq(value, "LogAppendTime")
                                  ? SAMSA_TIMESTAMP_LOG_APPEND_TIME
                                  : SAMSA_TIMESTAMP_CREATE_TIME;
        return kstr_eq(value, "LogAppendTime") || kstr_eq(value, "CreateTime");
    }
    if (kstr_eq(name, "cleanup.policy")) {
        cfg->cleanup_policy = kstr_eq(value, "delete") ? SAMSA_CLEANUP_DELETE
                              : kstr_eq(value, "compact")
                                  ? SAMSA_CLEANUP_COMPACT
                              : kstr_eq(value, "compact,delete") ||
                                      kstr_eq(value, "delete,compact")
                                  ? SAMSA_CLEANUP_COMPACT_DELETE
                                  : 0;
        return cfg->cleanup_policy != 0;
    }
    if (!config_int(value, -1, &n))
        return false;
    if (kstr_eq(name, "retention.ms"))
        cfg->retention_ms = n;
    else if (kstr_eq(name, "retention.bytes"))
        cfg->retention_bytes = n;
    else if (kstr_eq(name, "segment.ms"))
        cfg->segment_ms = n;
    else if (kstr_eq(name, "segment.bytes"))
        cfg->segment_bytes = n;
    else if (kstr_eq(name, "max.message.bytes") && n <= INT32_MAX)
        cfg->max_message_bytes = (int32_t)n;
    else if (kstr_eq(name, "min.insync.replicas") && n <= INT32_MAX)
        cfg->min_insync = (int32_t)n;
    else
        return false;
    return true;
}

static int16_t
create_error(int rc)
{
    switch (rc) {
    case SAMSA_EEXIST:
        return KERR_TOPIC_ALREADY_EXISTS;
    case SAMSA_EINVAL:
        return KERR_INVALID_CONFIG; /* the name is checked before */
    default:
        return kapi_error(rc);
    }
}

/* Read an assignments array (CreateTopics': partition index, then the
 * brokers; CreatePartitions': the brokers only): its entry count. */
static int32_t
read_assignments(kread *r, bool indexed)
{
    int32_t na = kread_array(r, false, indexed ? 8 : 4);
    for (int32_t a = 0; a < na && !r->bad; a++) {
        if (indexed)
            (void)kread_i32(r);
        int32_t nb = kread_array(r, false, 4);
        for (int32_t b = 0; b < nb && !r->bad; b++)
            (void)kread_i32(r);
    }
    return na;
}

/* One topic of a CreateTopics or CreatePartitions request, decoded and
 * checked as far as the request alone tells. */
typedef struct atopic {
    kstr name;              /* into the request                     */
    int32_t count;          /* partitions (-1: the default)          */
    int16_t err;            /* KERR_NONE, or why it is refused       */
    samsa_topic_config cfg; /* CreateTopics: its configs, applied    */
} atopic;

/* Read the next topic of CreateTopics (create) or CreatePartitions into
 * x: the one decoder of both passes (topics_read). */
static void
topic_read(samsa_listener *l, kread *r, bool create, atopic *x)
{
    memset(x, 0, sizeof *x);
    x->name = kread_str(r, false);
    x->count = kread_i32(r);
    int16_t rf = create ? kread_i16(r) : 0;
    /* One broker: there is nothing to assign. */
    if (read_assignments(r, create) > 0)
        x->err = KERR_INVALID_REQUEST;
    if (!create)
        return;
    int32_t nc = kread_array(r, false, 4);
    for (int32_t k = 0; k < nc && !r->bad; k++) {
        kstr cn = kread_str(r, false), cv = kread_str(r, false);
        if (x->err == KERR_NONE && !config_apply(&x->cfg, cn, cv))
            x->err = KERR_INVALID_CONFIG;
    }
    if (x->err == KERR_NONE &&
        (x->count == 0 || x->count < -1 || x->count > l->cfg.max_partitions))
        x->err = KERR_INVALID_PARTITIONS;
    if (x->err == KERR_NONE && (rf == 0 || rf < -1))
        x->err = KERR_INVALID_REPLICATION_FACTOR;
    x->cfg.partitions = x->count == -1 ? 0 : x->count;
    x->cfg.replicas = rf == -1 ? 0 : rf;
}

/* The nt topics after the array count at r: read through once, with the
 * timeout and validate_only after them (has_validate), before anything
 * is done, so that a request cut short changes nothing; *again gets a
 * reader at the first topic for the pass that acts (topic_read again,
 * each topic on its own, no copy of the request).  false: malformed. */
static bool
topics_read(samsa_listener *l, kread *r, int32_t nt, bool create,
            bool has_validate, kread *again, bool *validate_only)
{
    kread_init(again, r->p, (size_t)(r->end - r->p));
    atopic x;
    for (int32_t t = 0; t < nt && !r->bad; t++)
        topic_read(l, r, create, &x);
    (void)kread_i32(r); /* timeout */
    *validate_only = has_validate && kread_i8(r) != 0;
    return !r->bad;
}

int
kapi_create_topics(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body, again;
    int32_t nt = kread_array(r, false, 12);
    bool validate_only;
    if (!topics_read(l, r, nt, true, v >= 1, &again, &validate_only))
        return KANS_CLOSE;
    if (v >= 2)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt; t++) {
        atopic a;
        topic_read(l, &again, true, &a);
        char *tname = kstr_dup(a.name);
        if (a.err == KERR_NONE && tname == NULL)
            a.err = KERR_INVALID_TOPIC;
        if (a.err == KERR_NONE && !validate_only)
            a.err = create_error(samsa_topic_create(l->s, tname, &a.cfg));
        free(tname);
        kwrite_str(out, false, a.name.p, a.name.len);
        kwrite_i16(out, a.err);
        if (v >= 1)
            kwrite_strz(out, false, NULL); /* error message */
    }
    return KANS_DONE;
}

int
kapi_delete_topics(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    int32_t nt = kread_array(r, false, 2);
    if (v >= 1)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt && !r->bad; t++) {
        kstr name = kread_str(r, false);
        char *tname = kstr_dup(name);
        int rc =
            tname == NULL ? SAMSA_ENOTOPIC : samsa_topic_delete(l->s, tname);
        free(tname);
        kwrite_str(out, false, name.p, name.len);
        kwrite_i16(out, rc == SAMSA_EINVAL ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                           : kapi_error(rc));
    }
    (void)kread_i32(r); /* timeout */
    return r->bad ? KANS_CLOSE : KANS_DONE;
}

int
kapi_create_partitions(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    kread *r = &req->body, again;
    int32_t nt = kread_array(r, false, 10);
    bool validate_only;
    if (!topics_read(l, r, nt, false, true, &again, &validate_only))
        return KANS_CLOSE;
    kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt; t++) {
        atopic a;
        topic_read(l, &again, false, &a);
        char *tname = kstr_dup(a.name);
        samsa_topic_config cfg;
        int rc = tname == NULL ? SAMSA_ENOTOPIC
                               : samsa_topic_describe(l->s, tname, &cfg);
        int16_t err = kapi_error(rc);
        if (rc == 0 && (a.err != KERR_NONE || a.count <= cfg.partitions ||
                        a.count > l->cfg.max_partitions))
            err = a.err != KERR_NONE ? a.err : KERR_INVALID_PARTITIONS;
        else if (rc == 0 && !validate_only)
            err = kapi_error(samsa_topic_add_partitions(l->s, tname, a.count));
        free(tname);
        kwrite_str(out, false, a.name.p, a.name.len);
        kwrite_i16(out, err);
        kwrite_strz(out, false, NULL); /* error message */
    }
    return KANS_DONE;
}

int
kapi_delete_records(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    kread *r = &req->body;
    int32_t nt = kread_array(r, false, 6);
    kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt && !r->bad; t++) {
        char *tname;
        int32_t np = kapi_topic_echo(r, out, 12, &tname);
        for (int32_t i = 0; i < np && !r->bad; i++) {
            int32_t p = kread_i32(r);
            int64_t before = kread_i64(r), first = -1, end = -1;
            if (r->bad)
                break;
            int rc = tname == NULL
                         ? SAMSA_ENOTOPIC
                         : samsa_offsets(l->s, tname, p, &first, &end);
            if (rc == 0 && before == -1) /* -1: the high watermark */
                before = end;
            if (rc == 0 && (before < 0 || before > end))
                rc = SAMSA_EOFFSET;
            if (rc == 0)
                rc = samsa_delete_records(l->s, tname, p, before);
            if (rc == 0)
                rc = samsa_offsets(l->s, tname, p, &first, &end);
            kwrite_i32(out, p);
            kwrite_i64(out, rc == 0 ? first : -1); /* low watermark */
            kwrite_i16(out, kapi_error(rc));
        }
        free(tname);
    }
    (void)kread_i32(r); /* timeout */
    return r->bad ? KANS_CLOSE : KANS_DONE;
}
