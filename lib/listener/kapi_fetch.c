/*
 * kapi_fetch.c - Fetch (key 1) and ListOffsets (key 2).
 *
 * A fetch answers with the stored batches as they are on disk, checked
 * as a cursor checks them (cursor_next_batch(): the CRC, where each batch
 * starts) but not decoded: compressed batches go out compressed, as a
 * Kafka broker sends them.  The batch holding the fetch offset comes
 * whole, so it may start below the offset (clients skip those records).
 * Sizes follow KIP-74: partition_max_bytes per partition and max_bytes in
 * all, max_bytes at most the listener's fetch_max_bytes (Kafka's broker
 * fetch.max.bytes), except that the first batch of the reply always comes
 * whole, so a batch larger than the limits never stalls a client.
 *
 * Waiting.  When the reply would carry fewer than min_bytes of batches and
 * max_wait_ms has not passed, the fetch parks (listener.c): its decoded
 * request is kept, and every wake-up builds the reply again, until it has
 * enough or its time is up.  Building is the check: a wake-up that finds
 * too little throws that reply away.
 *
 * No fetch sessions (KIP-227): the reply's session id is 0, which tells
 * the client to send full fetches.
 */
#include <stdlib.h>
#include <string.h>

#include "client/cursor.h"
#include "listener.h"

typedef struct fpart {
    int32_t partition;
    int64_t offset;
    int32_t max_bytes;
} fpart;

typedef struct ftopic {
    kstr name; /* into the request copy       */
    fpart *parts;
    int32_t nparts;
} ftopic;

struct kfetch {
    kpark head; /* key, version, correlation: the request's */
    int32_t min_bytes, max_bytes;
    int64_t deadline; /* CLOCK_MONOTONIC ns        */
    uint8_t *body;    /* the request's body: names point into it */
    ftopic *topics;
    int32_t ntopics;
};

static void
fetch_free(kfetch *f)
{
    if (f == NULL)
        return;
    for (int32_t t = 0; t < f->ntopics; t++)
        free(f->topics[t].parts);
    free(f->topics);
    free(f->body);
    free(f);
}

static int fetch_retry(samsa_listener *l, kpark *p, kwrite *out,
                       int64_t *deadline_ns);

/* A parked fetch let go: the waker no longer needs to watch for it. */
static void
fetch_park_free(samsa_listener *l, kpark *p)
{
    fetch_free((kfetch *)p);
    listener_parked_add(l, -1);
}

static const kpark_ops fetch_ops = {fetch_retry, fetch_park_free};

/* Decode a Fetch request (its body copied: it outlives the frame). */
static kfetch *
fetch_decode(kreq *req)
{
    int16_t v = req->version;
    kfetch *f = calloc(1, sizeof *f);
    size_t len = (size_t)(req->body.end - req->body.p);
    if (f == NULL || (f->body = malloc(len ? len : 1)) == NULL) {
        free(f);
        return NULL;
    }
    memcpy(f->body, req->body.p, len);
    kread r;
    kread_init(&r, f->body, len);
    f->head = (kpark){&fetch_ops, req->key, v, req->correlation};
    (void)kread_i32(&r); /* replica id: a consumer's -1 */
    int32_t max_wait = kread_i32(&r);
    f->min_bytes = kread_i32(&r);
    f->max_bytes = kread_i32(&r);
    (void)kread_i8(&r); /* isolation: no transactions, so the same */
    if (v >= 7) {
        (void)kread_i32(&r); /* session id, epoch: no sessions */
        (void)kread_i32(&r);
    }
    f->ntopics = kread_array(&r, false, 6);
    if (f->ntopics > 0)
        f->topics = calloc((size_t)f->ntopics, sizeof *f->topics);
    for (int32_t t = 0; t < f->ntopics && f->topics != NULL && !r.bad; t++) {
        ftopic *ft = &f->topics[t];
        ft->name = kread_str(&r, false);
        int32_t np = kread_array(&r, false, 16);
        if (np > 0 &&
            (ft->parts = calloc((size_t)np, sizeof *ft->parts)) == NULL)
            break;
        ft->nparts = np > 0 ? np : 0;
        for (int32_t i = 0; i < ft->nparts; i++) {
            ft->parts[i].partition = kread_i32(&r);
            if (v >= 9)
                (void)kread_i32(&r); /* current leader epoch */
            ft->parts[i].offset = kread_i64(&r);
            if (v >= 5)
                (void)kread_i64(&r); /* the follower's log start */
            ft->parts[i].max_bytes = kread_i32(&r);
        }
    }
    if (v >= 7) { /* forgotten topics: sessions only */
        int32_t nf = kread_array(&r, false, 6);
        for (int32_t i = 0; i < nf && !r.bad; i++) {
            (void)kread_str(&r, false);
            int32_t np = kread_array(&r, false, 4);
            for (int32_t j = 0; j < np && !r.bad; j++)
                (void)kread_i32(&r);
        }
    }
    if (v >= 11)
        (void)kread_str(&r, false); /* rack id */
    if (r.bad || f->ntopics < 0 || (f->ntopics > 0 && f->topics == NULL) ||
        max_wait < 0 || f->max_bytes < 0) {
        fetch_free(f);
        return NULL;
    }
    f->deadline = samsa__deadline_after(max_wait);
    return f;
}

/* A spliced batch was sent (or dropped): its segment's reference goes. */
static void
segment_release(void *ctx)
{
    segment *seg = ctx;
    segment_unref(seg->io, seg);
}

/* Append one partition's batches from fp->offset to out: the records
 * field (length, bytes).  *room is what the whole reply may still take;
 * *total counts the batch bytes of the reply.  The Kafka error. */
static int16_t
fetch_records(samsa_listener *l, const char *tname, const fpart *fp,
              kwrite *out, int64_t *room, int64_t *total)
{
    samsa_cursor *cur = NULL;
    size_t at = kwrite_reserve32(out);
    size_t start = kwrite_total(out);
    int rc = samsa_cursor_open(l->s, tname, fp->partition, fp->offset, &cur);
    int64_t mine = 0;
    while (rc == 0) {
        const uint8_t *b;
        size_t len;
        segment *seg;
        rc = cursor_next_batch(cur, &b, &len, &seg);
        if (rc != 0)
            break;
        /* KIP-74: the reply's first batch comes whole whatever the
         * limits; after it, a batch comes only if it fits. */
        if (*total > 0 &&
            ((int64_t)len > *room || mine + (int64_t)len > fp->max_bytes)) {
            segment_release(seg);
            break;
        }
        /* Sent from the segment's mapping, which the reference keeps. */
        kwrite_splice(out, b, len, segment_release, seg);
        mine += (int64_t)len;
        *total += (int64_t)len;
        *room -= (int64_t)len;
        if (*room <= 0 || mine >= fp->max_bytes)
            break;
    }
    samsa_cursor_close(cur);
    kwrite_patch32(out, at, (int32_t)(kwrite_total(out) - start));
    return rc == SAMSA_ETIMEDOUT || rc == 0 ? KERR_NONE : kapi_error(rc);
}

/* Build f's reply into out; *total gets its batch bytes. */
static void
fetch_build(samsa_listener *l, const kfetch *f, kwrite *out, int64_t *total)
{
    int16_t v = f->head.version;
    int64_t room = f->max_bytes < l->cfg.fetch_max_bytes
                       ? f->max_bytes
                       : l->cfg.fetch_max_bytes;
    *total = 0;
    kwrite_i32(out, 0); /* throttle_time_ms */
    if (v >= 7) {
        kwrite_i16(out, KERR_NONE);
        kwrite_i32(out, 0); /* session id: none */
    }
    kwrite_array(out, false, f->ntopics);
    for (int32_t t = 0; t < f->ntopics; t++) {
        const ftopic *ft = &f->topics[t];
        char *tname = kstr_dup(ft->name);
        kwrite_str(out, false, ft->name.p, ft->name.len);
        kwrite_array(out, false, ft->nparts);
        for (int32_t i = 0; i < ft->nparts; i++) {
            const fpart *fp = &ft->parts[i];
            int64_t first = -1, end = -1;
            int rc = tname == NULL ? SAMSA_ENOTOPIC
                                   : samsa_offsets(l->s, tname, fp->partition,
                                                   &first, &end);
            if (rc == 0 && (fp->offset < first || fp->offset > end))
                rc = SAMSA_EOFFSET;
            kwrite_i32(out, fp->partition);
            size_t err_at = out->len;
            kwrite_i16(out, kapi_error(rc));
            kwrite_i64(out, end); /* high watermark */
            kwrite_i64(out, end); /* last stable offset */
            if (v >= 5)
                kwrite_i64(out, first);   /* log start offset */
            kwrite_array(out, false, -1); /* aborted transactions */
            if (v >= 11)
                kwrite_i32(out, -1); /* preferred read replica */
            if (rc != 0) {
                kwrite_bytes_len(out, false, 0);
                continue;
            }
            int16_t err = fetch_records(l, tname, fp, out, &room, total);
            if (err != KERR_NONE && !out->bad) { /* the error, not the data */
                out->buf[err_at] = (uint8_t)((uint16_t)err >> 8);
                out->buf[err_at + 1] = (uint8_t)err;
            }
        }
        free(tname);
    }
}

/* Build the reply: it goes when it has enough, or time is up. */
static int
fetch_retry(samsa_listener *l, kpark *p, kwrite *out, int64_t *deadline_ns)
{
    kfetch *f = (kfetch *)p;
    int64_t total;
    fetch_build(l, f, out, &total);
    *deadline_ns = f->deadline;
    if (total >= f->min_bytes || samsa__now_ns() >= f->deadline || out->bad)
        return KANS_DONE;
    kwrite_free(out); /* too little: this reply goes */
    return KANS_PARKED;
}

int
kapi_fetch(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    kfetch *f = fetch_decode(req);
    if (f == NULL)
        return KANS_CLOSE;
    int64_t deadline;
    int rc = fetch_retry(l, &f->head, out, &deadline);
    if (rc == KANS_DONE) {
        fetch_free(f);
        return KANS_DONE;
    }
    c->parked = &f->head;
    listener_parked_add(l, 1);
    return KANS_PARKED;
}

/* ---- ListOffsets (key 2) ------------------------------------------------ */

/* The offset for ts (-1 latest, -2 earliest, else the first record at or
 * after ts) and that record's time (-1 for latest and earliest). */
static int
list_one(samsa *s, const char *tname, int32_t p, int64_t ts, int64_t *offset,
         int64_t *found_ts)
{
    int64_t first, end;
    int rc = tname == NULL ? SAMSA_ENOTOPIC
                           : samsa_offsets(s, tname, p, &first, &end);
    *found_ts = -1;
    *offset = -1;
    if (rc != 0)
        return rc;
    if (ts == -1) {
        *offset = end;
        return 0;
    }
    if (ts == -2) {
        *offset = first;
        return 0;
    }
    if (ts < 0)
        return SAMSA_EINVAL;
    if ((rc = samsa_offsets_for_time(s, tname, p, ts, offset)) != 0 ||
        *offset < 0)
        return rc;
    samsa_cursor *cur;
    samsa_message m;
    if ((rc = samsa_cursor_open(s, tname, p, *offset, &cur)) != 0)
        return rc;
    if ((rc = samsa_cursor_next(cur, &m, 0)) == 0)
        *found_ts = m.timestamp;
    samsa_cursor_close(cur);
    return rc;
}

int
kapi_list_offsets(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    (void)kread_i32(r); /* replica id */
    if (v >= 2)
        (void)kread_i8(r); /* isolation level */
    if (v >= 2)
        kwrite_i32(out, 0); /* throttle_time_ms */
    int32_t nt = kread_array(r, false, 6);
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt && !r->bad; t++) {
        char *tname;
        int32_t np = kapi_topic_echo(r, out, 12, &tname);
        for (int32_t i = 0; i < np && !r->bad; i++) {
            int32_t p = kread_i32(r);
            if (v >= 4)
                (void)kread_i32(r); /* current leader epoch */
            int64_t ts = kread_i64(r), offset, found;
            if (r->bad)
                break;
            int rc = list_one(l->s, tname, p, ts, &offset, &found);
            kwrite_i32(out, p);
            kwrite_i16(out, rc == SAMSA_EINVAL ? KERR_INVALID_REQUEST
                                               : kapi_error(rc));
            kwrite_i64(out, found);
            kwrite_i64(out, offset);
            if (v >= 4)
                kwrite_i32(out, -1); /* leader epoch: unknown */
        }
        free(tname);
    }
    return r->bad ? KANS_CLOSE : KANS_DONE;
}
