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

int
kapi_create_topics(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    int32_t nt = kread_array(r, false, 12);
    /* Read the whole request first: validate_only comes after the topics. */
    const uint8_t *topics_at = r->p;
    for (int32_t t = 0; t < nt && !r->bad; t++) {
        (void)kread_str(r, false);
        (void)kread_i32(r);
        (void)kread_i16(r);
        int32_t na = kread_array(r, false, 8);
        for (int32_t a = 0; a < na && !r->bad; a++) {
            (void)kread_i32(r);
            int32_t nb = kread_array(r, false, 4);
            for (int32_t b = 0; b < nb && !r->bad; b++)
                (void)kread_i32(r);
        }
        int32_t nc = kread_array(r, false, 4);
        for (int32_t k = 0; k < nc && !r->bad; k++) {
            (void)kread_str(r, false);
            (void)kread_str(r, false);
        }
    }
    (void)kread_i32(r); /* timeout */
    bool validate_only = v >= 1 && kread_i8(r) != 0;
    if (r->bad)
        return KANS_CLOSE;
    kread again;
    kread_init(&again, topics_at, (size_t)(r->end - topics_at));
    if (v >= 2)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt; t++) {
        kstr name = kread_str(&again, false);
        samsa_topic_config cfg = {0};
        int32_t parts = kread_i32(&again);
        int16_t rf = kread_i16(&again);
        int16_t err = KERR_NONE;
        int32_t na = kread_array(&again, false, 8);
        for (int32_t a = 0; a < na; a++) {
            (void)kread_i32(&again);
            int32_t nb = kread_array(&again, false, 4);
            for (int32_t b = 0; b < nb; b++)
                (void)kread_i32(&again);
        }
        if (na > 0)
            err = KERR_INVALID_REQUEST; /* one broker: nothing to assign */
        int32_t nc = kread_array(&again, false, 4);
        for (int32_t k = 0; k < nc; k++) {
            kstr cn = kread_str(&again, false), cv = kread_str(&again, false);
            if (err == KERR_NONE && !config_apply(&cfg, cn, cv))
                err = KERR_INVALID_CONFIG;
        }
        if (err == KERR_NONE &&
            (parts == 0 || parts < -1 || parts > l->cfg.max_partitions))
            err = KERR_INVALID_PARTITIONS;
        if (err == KERR_NONE && (rf == 0 || rf < -1))
            err = KERR_INVALID_REPLICATION_FACTOR;
        cfg.partitions = parts == -1 ? 0 : parts;
        cfg.replicas = rf == -1 ? 0 : rf;
        char *tname = kstr_dup(name);
        if (err == KERR_NONE && tname == NULL)
            err = KERR_INVALID_TOPIC;
        if (err == KERR_NONE && !validate_only)
            err = create_error(samsa_topic_create(l->s, tname, &cfg));
        free(tname);
        kwrite_str(out, false, name.p, name.len);
        kwrite_i16(out, err);
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
    kread *r = &req->body;
    int32_t nt = kread_array(r, false, 10);
    kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    /* validate_only comes after the topics: the whole request is read
     * first, then answered in a second pass, as CreateTopics does. */
    const uint8_t *topics_at = r->p;
    for (int32_t t = 0; t < nt && !r->bad; t++) {
        (void)kread_str(r, false);
        (void)kread_i32(r);
        int32_t na = kread_array(r, false, 4);
        for (int32_t a = 0; a < na && !r->bad; a++) {
            int32_t nb = kread_array(r, false, 4);
            for (int32_t b = 0; b < nb && !r->bad; b++)
                (void)kread_i32(r);
        }
    }
    (void)kread_i32(r); /* timeout */
    bool validate_only = kread_i8(r) != 0;
    if (r->bad)
        return KANS_CLOSE;
    kread again;
    kread_init(&again, topics_at, (size_t)(r->end - topics_at));
    for (int32_t t = 0; t < nt; t++) {
        kstr name = kread_str(&again, false);
        int32_t count = kread_i32(&again);
        int32_t na = kread_array(&again, false, 4);
        for (int32_t a = 0; a < na; a++) {
            int32_t nb = kread_array(&again, false, 4);
            for (int32_t b = 0; b < nb; b++)
                (void)kread_i32(&again);
        }
        char *tname = kstr_dup(name);
        samsa_topic_config cfg;
        int rc = tname == NULL ? SAMSA_ENOTOPIC
                               : samsa_topic_describe(l->s, tname, &cfg);
        int16_t err = kapi_error(rc);
        if (rc == 0 && (na > 0 || count <= cfg.partitions ||
                        count > l->cfg.max_partitions))
            err = na > 0 ? KERR_INVALID_REQUEST : KERR_INVALID_PARTITIONS;
        else if (rc == 0 && !validate_only)
            err = kapi_error(samsa_topic_add_partitions(l->s, tname, count));
        free(tname);
        kwrite_str(out, false, name.p, name.len);
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
