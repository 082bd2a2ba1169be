/*
 * kapi_meta.c - ApiVersions and Metadata: what the listener serves and
 * where the topics are.
 *
 * The versions.  Each API is served from the oldest version the clients
 * in use still send to the newest one before its flexible (KIP-482)
 * encoding, so every reply here uses the classic layouts; ApiVersions
 * itself is served in its flexible version 3 too, because librdkafka and
 * the Java client ask with it first.  ApiVersions lists exactly this
 * table, so a client never picks a version the listener cannot read; the
 * SASL APIs are in it only when the listener has a users file (ksasl.c).
 *
 * One broker.  The store is node 0, at the advertised host and the bound
 * port, leader of every partition, its only replica and in-sync replica
 * (samsa's own copies are disks of this one broker, not Kafka replicas).
 */
#include <stdlib.h>
#include <string.h>

#include "listener.h"

typedef struct kversions {
    int16_t key, min, max;
} kversions;

/* clang-format off */
static const kversions served[] = {
    {KAPI_PRODUCE, 3, 8},          {KAPI_FETCH, 4, 11},
    {KAPI_LIST_OFFSETS, 1, 5},     {KAPI_METADATA, 0, 8},
    {KAPI_OFFSET_COMMIT, 2, 7},    {KAPI_OFFSET_FETCH, 1, 5},
    {KAPI_FIND_COORDINATOR, 0, 2}, {KAPI_API_VERSIONS, 0, 3},
    {KAPI_CREATE_TOPICS, 0, 4},    {KAPI_DELETE_TOPICS, 0, 3},
    {KAPI_DELETE_RECORDS, 0, 1},   {KAPI_CREATE_PARTITIONS, 0, 1},
    {KAPI_JOIN_GROUP, 0, 5},       {KAPI_HEARTBEAT, 0, 3},
    {KAPI_LEAVE_GROUP, 0, 3},      {KAPI_SYNC_GROUP, 0, 3},
    {KAPI_DESCRIBE_GROUPS, 0, 4},  {KAPI_LIST_GROUPS, 0, 2},
    {KAPI_INIT_PRODUCER_ID, 0, 1}, {KAPI_DESCRIBE_CONFIGS, 0, 3},
    /* Last, so that without a users file ApiVersions sends the table
     * without them (NSASL). */
    {KAPI_SASL_HANDSHAKE, 0, 1},   {KAPI_SASL_AUTHENTICATE, 0, 2},
};
/* clang-format on */
#define NSERVED (sizeof served / sizeof served[0])
#define NSASL   2

bool
kapi_supported(int16_t key, int16_t version)
{
    for (size_t i = 0; i < NSERVED; i++)
        if (served[i].key == key)
            return version >= served[i].min && version <= served[i].max;
    return false;
}

int16_t
kapi_error(int rc)
{
    switch (rc) {
    case 0:
        return KERR_NONE;
    case SAMSA_ENOTOPIC:
    case SAMSA_ENOPARTITION:
    case SAMSA_EDELETED:
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    case SAMSA_EOFFSET:
        return KERR_OFFSET_OUT_OF_RANGE;
    case SAMSA_ETOOBIG:
        return KERR_MESSAGE_TOO_LARGE;
    case SAMSA_ECORRUPT:
        return KERR_CORRUPT_MESSAGE;
    case SAMSA_ENOTENOUGHREPLICAS:
        return KERR_NOT_ENOUGH_REPLICAS;
    case SAMSA_EIO:
    case SAMSA_ENOSPC:
    case SAMSA_EFAILED:
        return KERR_KAFKA_STORAGE_ERROR;
    case SAMSA_ETIMEDOUT:
        return KERR_REQUEST_TIMED_OUT;
    default:
        return KERR_UNKNOWN;
    }
}

int32_t
kapi_topic_echo(kread *r, kwrite *out, size_t min_part, char **name)
{
    kstr n = kread_str(r, false);
    int32_t np = kread_array(r, false, min_part);
    kwrite_str(out, false, n.p, n.len);
    kwrite_array(out, false, np < 0 ? 0 : np);
    *name = kstr_dup(n);
    return np < 0 ? 0 : np;
}

/* ApiVersions (key 18).  An unknown version gets version 0's layout with
 * UNSUPPORTED_VERSION and the table, so the client can retry (KIP-511). */
int
kapi_api_versions(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    size_t n = l->sasl != NULL ? NSERVED : NSERVED - NSASL;
    int16_t v = req->version;
    bool known = kapi_supported(KAPI_API_VERSIONS, v);
    bool flex = known && v >= 3;
    if (flex) { /* client software name and version: not used */
        (void)kread_str(&req->body, true);
        (void)kread_str(&req->body, true);
        kread_tags(&req->body, true);
        if (req->body.bad)
            return KANS_CLOSE;
    }
    kwrite_i16(out, known ? KERR_NONE : KERR_UNSUPPORTED_VERSION);
    kwrite_array(out, flex, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        kwrite_i16(out, served[i].key);
        kwrite_i16(out, served[i].min);
        kwrite_i16(out, served[i].max);
        kwrite_tags(out, flex);
    }
    if (known && v >= 1)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_tags(out, flex);
    return KANS_DONE;
}

/* ---- Metadata (key 3) --------------------------------------------------- */

/* One topic's entry: its partitions, each led by node 0. */
static void
topic_entry(kwrite *out, int16_t v, const char *name, size_t len,
            int32_t partitions, int16_t err)
{
    kwrite_i16(out, err);
    kwrite_str(out, false, name, len);
    if (v >= 1)
        kwrite_i8(out, 0); /* is_internal */
    kwrite_array(out, false, partitions);
    for (int32_t p = 0; p < partitions; p++) {
        kwrite_i16(out, KERR_NONE);
        kwrite_i32(out, p);
        kwrite_i32(out, 0); /* leader: the store */
        if (v >= 7)
            kwrite_i32(out, -1); /* leader epoch unknown: clients then do
                                    not validate positions with
                                    OffsetForLeaderEpoch, not served */
        kwrite_array(out, false, 1);
        kwrite_i32(out, 0); /* replicas */
        kwrite_array(out, false, 1);
        kwrite_i32(out, 0); /* in-sync replicas */
        if (v >= 5)
            kwrite_array(out, false, 0); /* offline replicas */
    }
    if (v >= 8)
        kwrite_i32(out, INT32_MIN); /* authorized operations: not asked */
}

typedef struct meta_walk {
    samsa *s;
    kwrite *out;
    int16_t v;
    int32_t n;
} meta_walk;

static int
meta_one(const char *name, void *ctx)
{
    meta_walk *w = ctx;
    samsa_topic_config cfg;
    if (samsa_topic_describe(w->s, name, &cfg) != 0)
        return 0; /* deleted meanwhile */
    topic_entry(w->out, w->v, name, strlen(name), cfg.partitions, KERR_NONE);
    w->n++;
    return 0;
}

int
kapi_metadata(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    int32_t n = kread_array(r, false, 2);
    kstr *names = NULL;
    if (n > 0 && (names = calloc((size_t)n, sizeof *names)) == NULL)
        return KANS_CLOSE;
    for (int32_t i = 0; i < n; i++)
        names[i] = kread_str(r, false);
    if (v >= 4)
        (void)kread_i8(r); /* allow_auto_topic_creation: topics are made
                              by samsa_topic_create or the tool */
    if (v >= 8) {
        (void)kread_i8(r);
        (void)kread_i8(r);
    }
    /* Each topic once, as Kafka's broker does (it takes the names as a
     * set): answered per name, a 50 KB request naming a 1024-partition
     * topic 10,000 times made a 348 MB reply. */
    int32_t once = r->bad ? -1 : kstr_repeats(names, n);
    if (once < 0) {
        free(names);
        return KANS_CLOSE;
    }
    if (v >= 3)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_array(out, false, 1);
    kwrite_i32(out, 0);
    kwrite_strz(out, false, l->advertised);
    kwrite_i32(out, l->port);
    if (v >= 1)
        kwrite_strz(out, false, NULL); /* rack */
    if (v >= 2)
        kwrite_strz(out, false, "samsa"); /* cluster id */
    if (v >= 1)
        kwrite_i32(out, 0); /* controller */
    /* v0: an empty list asks for every topic; v1+: a null one does. */
    if (n == -1 || (n == 0 && v == 0)) {
        size_t at = kwrite_reserve32(out);
        meta_walk w = {.s = l->s, .out = out, .v = v};
        (void)samsa_topic_foreach(l->s, meta_one, &w);
        kwrite_patch32(out, at, w.n);
    } else {
        kwrite_array(out, false, once);
        for (int32_t i = 0; i < n; i++) {
            if (names[i].len == KSTR_REPEAT)
                continue; /* answered already */
            char *name = kstr_dup(names[i]);
            samsa_topic_config cfg;
            int rc = name == NULL ? SAMSA_ENOTOPIC
                                  : samsa_topic_describe(l->s, name, &cfg);
            topic_entry(out, v, names[i].p, names[i].len,
                        rc == 0 ? cfg.partitions : 0, kapi_error(rc));
            free(name);
        }
    }
    if (v >= 8)
        kwrite_i32(out, INT32_MIN); /* cluster authorized operations */
    free(names);
    return KANS_DONE;
}
