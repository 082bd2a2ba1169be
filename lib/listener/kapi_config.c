/*
 * kapi_config.c - DescribeConfigs (key 32): a topic's config as samsa
 * keeps it, by Kafka's names, and the one broker's few settings.
 *
 * A topic (resource type 2) answers with its samsa_topic_describe(),
 * every default filled in: what CreateTopics takes (kapi_admin.c), read
 * back.  samsa's "0 or -1: none" (keep for ever, no size limit, never
 * roll) is Kafka's -1 for retention.ms and retention.bytes, and
 * Long.MAX_VALUE for segment.ms (Kafka has no "never" there);
 * compression.type "uncompressed" when samsa stores batches as they are
 * (it decompresses and recompresses as the topic says, so a producer's
 * codec is never kept: "producer" would not be true).  samsa keeps the
 * config whole, not which values were given, so every entry says it is
 * the topic's own (DYNAMIC_TOPIC_CONFIG); every entry is read-only,
 * since the listener serves no AlterConfigs.
 *
 * The broker (type 4) is node 0 (kapi_meta.c); it answers with the
 * settings a client may ask about and samsa has: what a topic made with
 * defaults gets, and that no topic is made by Metadata.  Any other
 * resource type, or another broker id, is INVALID_REQUEST.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "listener.h"

#define RES_TOPIC  2
#define RES_BROKER 4

/* Kafka's ConfigSource. */
#define SRC_TOPIC  1 /* DYNAMIC_TOPIC_CONFIG */
#define SRC_STATIC 4 /* STATIC_BROKER_CONFIG */

/* Kafka's ConfigType (DescribeConfigs v3+). */
#define TYPE_BOOLEAN 1
#define TYPE_STRING  2
#define TYPE_INT     3
#define TYPE_LONG    5
#define TYPE_DOUBLE  6
#define TYPE_LIST    7

typedef struct kconfig {
    const char *name;
    char value[32];
    int8_t type;
} kconfig;

/* "0 or -1: none" as Kafka's -1. */
static int64_t
or_none(int64_t v)
{
    return v <= 0 ? -1 : v;
}

static int
topic_configs(const samsa_topic_config *cfg, kconfig *c)
{
    static const char *const codecs[] = {"uncompressed", "gzip", "snappy",
                                         "lz4", "zstd"};
    int n = 0;
#define PUT(nm, ty, ...)                                                       \
    do {                                                                       \
        c[n].name = nm;                                                        \
        c[n].type = ty;                                                        \
        snprintf(c[n].value, sizeof c[n].value, __VA_ARGS__);                  \
        n++;                                                                   \
    } while (0)
    PUT("cleanup.policy", TYPE_LIST, "%s",
        cfg->cleanup_policy == SAMSA_CLEANUP_COMPACT          ? "compact"
        : cfg->cleanup_policy == SAMSA_CLEANUP_COMPACT_DELETE ? "compact,delete"
                                                              : "delete");
    PUT("compression.type", TYPE_STRING, "%s",
        cfg->compression > 0 && cfg->compression < 5 ? codecs[cfg->compression]
                                                     : codecs[0]);
    PUT("delete.retention.ms", TYPE_LONG, "%" PRId64, cfg->delete_retention_ms);
    PUT("index.interval.bytes", TYPE_INT, "%" PRId32,
        cfg->index_interval_bytes);
    PUT("max.message.bytes", TYPE_INT, "%" PRId32, cfg->max_message_bytes);
    PUT("message.timestamp.type", TYPE_STRING, "%s",
        cfg->timestamp_type == SAMSA_TIMESTAMP_LOG_APPEND_TIME ? "LogAppendTime"
                                                               : "CreateTime");
    PUT("min.cleanable.dirty.ratio", TYPE_DOUBLE, "%g",
        (double)cfg->min_cleanable_dirty_ratio);
    PUT("min.compaction.lag.ms", TYPE_LONG, "%" PRId64,
        cfg->min_compaction_lag_ms);
    PUT("min.insync.replicas", TYPE_INT, "%" PRId32, cfg->min_insync);
    PUT("retention.bytes", TYPE_LONG, "%" PRId64,
        or_none(cfg->retention_bytes));
    PUT("retention.ms", TYPE_LONG, "%" PRId64, or_none(cfg->retention_ms));
    PUT("segment.bytes", TYPE_INT, "%" PRId64, cfg->segment_bytes);
    PUT("segment.ms", TYPE_LONG, "%" PRId64,
        cfg->segment_ms > 0 ? cfg->segment_ms : INT64_MAX);
    return n;
}

/* The broker's: what a topic made with defaults gets. */
static int
broker_configs(samsa *s, kconfig *c)
{
    samsa_topic_config d;
    int n = 0;
    if (topic_config_resolve(s, NULL, &d) != 0)
        return 0; /* cannot fail: the defaults are in range */
    PUT("auto.create.topics.enable", TYPE_BOOLEAN, "false");
    PUT("broker.id", TYPE_INT, "0");
    PUT("default.replication.factor", TYPE_INT, "%" PRId32, d.replicas);
    PUT("log.retention.bytes", TYPE_LONG, "%" PRId64,
        or_none(d.retention_bytes));
    PUT("log.retention.ms", TYPE_LONG, "%" PRId64, or_none(d.retention_ms));
    PUT("log.segment.bytes", TYPE_INT, "%" PRId64, d.segment_bytes);
    PUT("message.max.bytes", TYPE_INT, "%" PRId32, d.max_message_bytes);
    PUT("min.insync.replicas", TYPE_INT, "%" PRId32, d.min_insync);
    PUT("num.partitions", TYPE_INT, "%" PRId32, d.partitions);
#undef PUT
    return n;
}

/* Is config name among the keys asked for (nk < 0: all)? */
static bool
asked(const kstr *keys, int32_t nk, const char *name)
{
    if (nk < 0)
        return true;
    for (int32_t i = 0; i < nk; i++)
        if (kstr_eq(keys[i], name))
            return true;
    return false;
}

int
kapi_describe_configs(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    int32_t nres = kread_array(r, false, 7);
    kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, nres < 0 ? 0 : nres);
    kstr *keys = NULL;
    /* include_synonyms (v1+) and include_documentation (v3+) come after
     * the resources: read them first, from the end of the body. */
    bool synonyms = false;
    if (v >= 1) {
        const uint8_t *flags = r->end - (v >= 3 ? 2 : 1);
        synonyms = flags >= r->p && *flags != 0;
    }
    for (int32_t i = 0; i < nres && !r->bad; i++) {
        int8_t type = kread_i8(r);
        kstr name = kread_str(r, false);
        int32_t nk = kread_array(r, false, 2);
        free(keys);
        keys = NULL;
        if (nk > 0 && (keys = calloc((size_t)nk, sizeof *keys)) == NULL)
            return KANS_CLOSE;
        for (int32_t k = 0; k < nk; k++)
            keys[k] = kread_str(r, false);
        if (r->bad)
            break;
        kconfig cf[16];
        int n = 0, src = SRC_TOPIC;
        int16_t err = KERR_NONE;
        const char *msg = NULL;
        if (type == RES_TOPIC) {
            char *tname = kstr_dup(name);
            samsa_topic_config cfg;
            int rc = tname == NULL ? SAMSA_ENOTOPIC
                                   : samsa_topic_describe(l->s, tname, &cfg);
            free(tname);
            if (rc == 0)
                n = topic_configs(&cfg, cf);
            else
                err = kapi_error(rc == SAMSA_EINVAL ? SAMSA_ENOTOPIC : rc);
            if (rc != 0)
                msg = samsa_strerror(rc == SAMSA_EINVAL ? SAMSA_ENOTOPIC : rc);
        } else if (type == RES_BROKER && kstr_eq(name, "0")) {
            n = broker_configs(l->s, cf);
            src = SRC_STATIC;
        } else {
            err = KERR_INVALID_REQUEST;
            msg = type == RES_BROKER ? "no such broker: this is broker 0"
                                     : "resource type not served";
        }
        kwrite_i16(out, err);
        kwrite_strz(out, false, msg);
        kwrite_i8(out, type);
        kwrite_str(out, false, name.p, name.len);
        size_t at = kwrite_reserve32(out);
        int32_t listed = 0;
        for (int k = 0; k < n; k++) {
            if (!asked(keys, nk, cf[k].name))
                continue;
            listed++;
            kwrite_strz(out, false, cf[k].name);
            kwrite_strz(out, false, cf[k].value);
            kwrite_i8(out, 1); /* read-only: no AlterConfigs */
            if (v == 0)
                kwrite_i8(out, 0); /* is_default: the topic's own */
            else
                kwrite_i8(out, (int8_t)src);
            kwrite_i8(out, 0); /* is_sensitive */
            if (v >= 1) {
                kwrite_array(out, false, synonyms ? 1 : 0);
                if (synonyms) {
                    kwrite_strz(out, false, cf[k].name);
                    kwrite_strz(out, false, cf[k].value);
                    kwrite_i8(out, (int8_t)src);
                }
            }
            if (v >= 3) {
                kwrite_i8(out, cf[k].type);
                kwrite_strz(out, false, NULL); /* documentation */
            }
        }
        kwrite_patch32(out, at, listed);
    }
    free(keys);
    if (v >= 1)
        (void)kread_i8(r);
    if (v >= 3)
        (void)kread_i8(r);
    return r->bad || r->p != r->end ? KANS_CLOSE : KANS_DONE;
}
