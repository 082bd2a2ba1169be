/*
 * listener.c - the Kafka listener: a socket, an epoll loop on a thread of
 * its own, and a waker thread that turns the store's appends into wake-ups
 * for fetches that wait.
 *
 * The loop.  One thread owns every connection: it accepts, reads whole
 * frames (a 4-byte size, then the request), answers them in order, and
 * writes the replies without blocking.  Kafka promises replies in request
 * order on a connection, so a connection works on one request at a time:
 * while a reply waits (parked: a fetch for data, a JoinGroup or SyncGroup
 * for its group, kpark in listener.h), the requests after it stay in the
 * connection's input buffer, and reading stops once that buffer holds a
 * whole largest request.  Parked replies are looked at again after every
 * round of events (parked_retry()), after the groups' timers ran.  A
 * connection's queued replies are bounded the same way: past max_request_bytes
 * of them, its requests wait until the client reads.  Anything that does not
 * parse closes that connection only.
 *
 * Waking fetches.  A fetch that must wait (less than min_bytes ready)
 * parks until max_wait_ms.  The waker thread sleeps while nothing is
 * parked; while something is, it watches the store (store_watch(), the
 * same wake-up consumer groups use, notify.c) and writes the eventfd the
 * loop polls on every append anywhere in the store.  It writes it once
 * too right after it starts watching, so an append between the loop's
 * last look and the watch is not missed: the loop then looks again.
 * Producers pay one atomic load when no fetch waits.
 *
 * Each wake-up of the waker writes the eventfd once (after it watches
 * again), so the loop looks at its parked fetches once per append burst,
 * never on a timer: with no append, a fetch is answered at its deadline.
 *
 * Authentication.  With a users file (ksasl.c), listener_answer() lets a
 * connection that has not logged in send only ApiVersions and the SASL
 * requests.  A reply after which the connection must close (a failed
 * login: KANS_LAST) sets c->closing: nothing more is read or answered,
 * and once its output is sent the connection closes, after the input
 * still buffered in the kernel is read and dropped (a socket closed with
 * unread input sends a reset, which could beat the reply).
 *
 * Closing.  samsa_listener_close() sets stop and writes the eventfd; the
 * loop ends; the waker, woken by its condition or by store_notify(), ends;
 * then every connection is closed and freed on the caller's thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "listener.h"

#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_MAX_REQUEST     (100 << 20) /* Kafka's socket.request.max.bytes */
/* Partitions a client may give a topic: each costs files and mappings
 * (vm.max_map_count bounds a process near 65,000), so one request must not
 * be able to spend them all. */
#define DEFAULT_MAX_PARTITIONS 1024
/* Kafka's broker fetch.max.bytes: a client's max_bytes (up to 2 GiB) is
 * not taken as it is, since a waiting fetch builds its reply again, CRC
 * checks and all, at each wake-up on the loop thread (kapi_fetch.c). */
#define DEFAULT_FETCH_MAX (55 << 20)
#define READ_CHUNK        65536

/* The config struct callers allocate keeps its size across versions: the
 * users file came out of the reserved tail. */
_Static_assert(sizeof(samsa_listener_config) == 96,
               "samsa_listener_config changed size: the ABI would break");

/* ---- connections ------------------------------------------------------- */

static void
conn_free(samsa_listener *l, kconn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    l->nconns--;
    if (c->parked != NULL)
        c->parked->ops->free(l, c->parked);
    close(c->fd); /* also leaves the epoll set */
    free(c->in);
    kwrite_free(&c->out);
    free(c);
}

/* The events c waits for: input unless a fetch waits or its replies are
 * backed up; output while replies are queued. */
static void
conn_interest(samsa_listener *l, kconn *c)
{
    struct epoll_event ev = {.data.ptr = c};
    size_t queued = kwrite_total(&c->out) - c->sent;
    if (c->parked == NULL && !c->closing &&
        queued < (size_t)l->cfg.max_request_bytes)
        ev.events |= EPOLLIN;
    if (queued > 0)
        ev.events |= EPOLLOUT;
    (void)epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
conn_accept(samsa_listener *l)
{
    for (;;) {
        int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && l->spare >= 0) {
            /* Out of descriptors: the connection would wait in the
             * backlog, the socket stay readable and the loop spin on it.
             * The spare descriptor makes room to take it and close it
             * (libuv's and libev's way), then comes back. */
            close(l->spare);
            fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                close(fd);
            l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd >= 0)
                continue;
        }
        if (fd < 0)
            return; /* EAGAIN, or a connection that went: nothing to do */
        kconn *c = NULL;
        if (l->nconns >= l->cfg.max_connections ||
            (c = calloc(1, sizeof *c)) == NULL) {
            close(fd); /* over the bound: refused at once */
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->auth = l->sasl != NULL ? KAUTH_NONE : KAUTH_DONE;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
            (void)inet_ntop(
                ss.ss_family,
                ss.ss_family == AF_INET
                    ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                    : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
                c->host, sizeof c->host);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = l->conns;
        if (l->conns != NULL)
            l->conns->prev = c;
        l->conns = c;
        l->nconns++;
    }
}

/* Frame body (len bytes at body) as a reply to correlation: size,
 * correlation id, the header's tagged fields for a flexible reply. */
static void
conn_reply(kconn *c, int32_t correlation, bool flex_header, kwrite *body)
{
    size_t at = kwrite_reserve32(&c->out);
    size_t start = kwrite_total(&c->out);
    kwrite_i32(&c->out, correlation);
    kwrite_tags(&c->out, flex_header);
    kwrite_take(&c->out, body);
    kwrite_patch32(&c->out, at, (int32_t)(kwrite_total(&c->out) - start));
}

/* Does the reply to (key, version) use the flexible header?  ApiVersions
 * never does (clients must read it before they know our versions);
 * SaslAuthenticate from v2; the others served here are flexible from no
 * version yet. */
static bool
reply_flexible(int16_t key, int16_t version)
{
    return key == KAPI_SASL_AUTHENTICATE && version >= 2;
}

/* Does the request header of (key, version) carry tagged fields? */
static bool
request_flexible(int16_t key, int16_t version)
{
    return (key == KAPI_API_VERSIONS && version >= 3) ||
           (key == KAPI_SASL_AUTHENTICATE && version >= 2);
}

typedef int (*handler)(samsa_listener *, kconn *, kreq *, kwrite *);

static handler
handler_for(int16_t key)
{
    switch (key) {
    case KAPI_API_VERSIONS:
        return kapi_api_versions;
    case KAPI_METADATA:
        return kapi_metadata;
    case KAPI_PRODUCE:
        return kapi_produce;
    case KAPI_LIST_OFFSETS:
        return kapi_list_offsets;
    case KAPI_FETCH:
        return kapi_fetch;
    case KAPI_FIND_COORDINATOR:
        return kapi_find_coordinator;
    case KAPI_OFFSET_COMMIT:
        return kapi_offset_commit;
    case KAPI_OFFSET_FETCH:
        return kapi_offset_fetch;
    case KAPI_JOIN_GROUP:
        return kapi_join_group;
    case KAPI_SYNC_GROUP:
        return kapi_sync_group;
    case KAPI_HEARTBEAT:
        return kapi_heartbeat;
    case KAPI_LEAVE_GROUP:
        return kapi_leave_group;
    case KAPI_LIST_GROUPS:
        return kapi_list_groups;
    case KAPI_DESCRIBE_GROUPS:
        return kapi_describe_groups;
    case KAPI_CREATE_TOPICS:
        return kapi_create_topics;
    case KAPI_DELETE_TOPICS:
        return kapi_delete_topics;
    case KAPI_CREATE_PARTITIONS:
        return kapi_create_partitions;
    case KAPI_DELETE_RECORDS:
        return kapi_delete_records;
    case KAPI_INIT_PRODUCER_ID:
        return kapi_init_producer_id;
    case KAPI_DESCRIBE_CONFIGS:
        return kapi_describe_configs;
    case KAPI_SASL_HANDSHAKE:
        return kapi_sasl_handshake;
    case KAPI_SASL_AUTHENTICATE:
        return kapi_sasl_authenticate;
    default:
        return NULL;
    }
}

int
listener_answer(samsa_listener *l, kconn *c, const uint8_t *p, size_t len)
{
    if (c->auth == KAUTH_RAW && l->sasl != NULL)
        return ksasl_raw(l, c, p, len); /* no request: a SASL token */
    kreq req;
    kread_init(&req.body, p, len);
    req.key = kread_i16(&req.body);
    req.version = kread_i16(&req.body);
    req.correlation = kread_i32(&req.body);
    req.client = kread_str(&req.body, false);
    handler h = handler_for(req.key);
    /* An API or version we do not serve: the client should have asked
     * ApiVersions first; Kafka closes the connection, so do we (the reply
     * layout of an unknown version is unknown).  ApiVersions answers an
     * unknown version itself, in version 0 (KIP-511).  The SASL APIs
     * are served only with a users file; until a connection
     * authenticated, only they and ApiVersions are (ksasl.c). */
    bool sasl_key =
        req.key == KAPI_SASL_HANDSHAKE || req.key == KAPI_SASL_AUTHENTICATE;
    if (h == NULL ||
        (req.key != KAPI_API_VERSIONS &&
         !kapi_supported(req.key, req.version)) ||
        (sasl_key && l->sasl == NULL) ||
        (l->sasl != NULL && !ksasl_allowed(c, req.key)))
        return KANS_CLOSE;
    if (req.key != KAPI_API_VERSIONS || kapi_supported(req.key, req.version))
        kread_tags(&req.body, request_flexible(req.key, req.version));
    if (req.body.bad)
        return KANS_CLOSE;
    kwrite body = {0};
    int rc = h(l, c, &req, &body);
    if (rc == KANS_LAST) {
        c->closing = true;
        rc = KANS_DONE;
    }
    if (rc == KANS_DONE && body.len > 0)
        conn_reply(c, req.correlation, reply_flexible(req.key, req.version),
                   &body);
    if (body.bad || c->out.bad)
        rc = KANS_CLOSE;
    kwrite_free(&body);
    return rc;
}

/* The largest frame c may send: max_request_bytes, and no more than
 * KSASL_MAX_RECEIVE before it logged in (it is no one yet, and must not
 * make the listener hold much for it). */
static int32_t
conn_max_frame(const samsa_listener *l, const kconn *c)
{
    int32_t most = l->cfg.max_request_bytes;
    return c->auth != KAUTH_DONE && most > KSASL_MAX_RECEIVE ? KSASL_MAX_RECEIVE
                                                             : most;
}

/* Answer the whole frames in c->in, in order, until one parks. */
static int
conn_work(samsa_listener *l, kconn *c)
{
    size_t at = 0;
    int rc = 0;
    while (c->parked == NULL && !c->closing && c->in_len - at >= 4) {
        const uint8_t *q = c->in + at;
        int32_t size = (int32_t)((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
                                 (uint32_t)q[2] << 8 | q[3]);
        /* No request is this small or this large; a raw SASL token
         * (ksasl_raw()) may be small. */
        if (size < (c->auth == KAUTH_RAW ? 0 : 8) ||
            size > conn_max_frame(l, c)) {
            rc = KANS_CLOSE;
            break;
        }
        if (c->in_len - at - 4 < (size_t)size)
            break; /* not all here yet */
        if ((rc = listener_answer(l, c, q + 4, (size_t)size)) == KANS_CLOSE)
            break;
        at += 4 + (size_t)size;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    return rc == KANS_CLOSE ? KANS_CLOSE : 0;
}

/* What a read() or send() result n says: 1 go on (bytes moved, or
 * EINTR), 0 the socket has no more for now (EAGAIN), KANS_CLOSE at the
 * end of the stream or on an error. */
static int
io_result(ssize_t n)
{
    if (n > 0 || (n < 0 && errno == EINTR))
        return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return KANS_CLOSE;
}

/* Read what the socket has, up to one largest request buffered. */
static int
conn_read(samsa_listener *l, kconn *c)
{
    size_t limit = 4 + (size_t)conn_max_frame(l, c);
    while (c->in_len < limit) {
        if (c->in_cap - c->in_len < READ_CHUNK && c->in_cap < limit) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
            if (cap > limit)
                cap = limit;
            uint8_t *b = realloc(c->in, cap);
            if (b == NULL)
                return KANS_CLOSE;
            c->in = b;
            c->in_cap = cap;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        int k = io_result(n);
        if (k <= 0)
            return k;
        c->in_len += n > 0 ? (size_t)n : 0;
    }
    return 0;
}

/* The iovecs of what c->out still has to send, from c->sent on: its
 * bytes and, between them, its splices (the segments' mapped pages: the
 * kernel copies them to the socket, no copy is made here). */
static int
conn_iov(const kconn *c, struct iovec *iov, int max)
{
    const kwrite *w = &c->out;
    size_t skip = c->sent, pos = 0;
    int n = 0;
    for (size_t k = 0; n < max; k++) {
        size_t upto = k < w->nsp ? w->sp[k].at : w->len;
        size_t run = upto - pos;
        if (skip >= run) {
            skip -= run;
        } else {
            iov[n++] = (struct iovec){w->buf + pos + skip, run - skip};
            skip = 0;
        }
        pos = upto;
        if (k >= w->nsp || n == max)
            break;
        const ksplice *sp = &w->sp[k];
        if (skip >= sp->len) {
            skip -= sp->len;
        } else {
            iov[n++] = (struct iovec){(void *)(sp->p + skip), sp->len - skip};
            skip = 0;
        }
    }
    return n;
}

/* Read and drop what c's peer sent, a bounded amount: a socket closed
 * with unread input resets the connection, and the reset can reach the
 * peer before it read the last reply. */
static void
conn_drain(kconn *c)
{
    uint8_t b[4096];
    for (int i = 0; i < 256 && read(c->fd, b, sizeof b) > 0; i++)
        ;
}

/* Send what c has queued; KANS_CLOSE when a closing connection sent its
 * last reply (or on an error), 0 otherwise. */
static int
conn_write(kconn *c)
{
    while (c->sent < kwrite_total(&c->out)) {
        struct iovec iov[64];
        struct msghdr mh = {.msg_iov = iov};
        mh.msg_iovlen = (size_t)conn_iov(c, iov, 64);
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        int k = io_result(n);
        if (k <= 0)
            return k;
        c->sent += n > 0 ? (size_t)n : 0;
    }
    /* All sent: the splices' segments are let go, the buffer reused. */
    uint8_t *buf = c->out.buf;
    size_t cap = c->out.cap;
    c->out.buf = NULL;
    kwrite_free(&c->out);
    c->out.buf = buf;
    c->out.cap = cap;
    c->sent = 0;
    if (c->closing) {
        conn_drain(c);
        return KANS_CLOSE;
    }
    return 0;
}

/* Read, answer and write what c can now; close it on KANS_CLOSE. */
static void
conn_service(samsa_listener *l, kconn *c, uint32_t events)
{
    int rc = 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        rc = conn_read(l, c);
    if (rc == 0)
        rc = conn_work(l, c);
    if (rc == 0)
        rc = conn_write(c);
    if (rc == KANS_CLOSE)
        conn_free(l, c);
    else
        conn_interest(l, c);
}

/* ---- parked replies ---------------------------------------------------- */

void
listener_parked_add(samsa_listener *l, int delta)
{
    pthread_mutex_lock(&l->lock);
    l->parked += delta;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

/* Run the groups' timers, then look at every parked reply again: answer
 * those that can be (a fetch with enough data or no time left, a join or
 * sync its group completed).  Returns the ms until the earliest deadline
 * left (a parked fetch's or a group timer's), -1 none. */
static int
parked_retry(samsa_listener *l)
{
    int64_t next = kgroups_tick(l);
    for (kconn *c = l->conns, *nx; c != NULL; c = nx) {
        nx = c->next;
        if (c->parked == NULL)
            continue;
        kwrite body = {0};
        int64_t deadline;
        kpark *p = c->parked;
        int rc = p->ops->retry(l, p, &body, &deadline);
        if (rc == KANS_DONE) {
            conn_reply(c, p->correlation, reply_flexible(p->key, p->version),
                       &body);
            c->parked = NULL;
            p->ops->free(l, p);
            rc = body.bad || c->out.bad ? KANS_CLOSE : conn_work(l, c);
            if (rc == 0)
                rc = conn_write(c);
            if (rc == KANS_CLOSE)
                conn_free(l, c);
            else
                conn_interest(l, c);
        } else if (deadline >= 0 && (next < 0 || deadline < next)) {
            next = deadline;
        }
        kwrite_free(&body);
    }
    int64_t now = samsa__now_ns();
    /* A request answered in this pass may have completed a join or sync
     * of a connection the pass had already looked at: look again. */
    if (kgroups_ready(l))
        next = now;
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/* ---- the threads ------------------------------------------------------- */

static void *
loop_main(void *arg)
{
    samsa_listener *l = arg;
    struct epoll_event evs[64];
    int timeout = -1;
    while (!atomic_load(&l->stop)) {
        int n = epoll_wait(l->epfd, evs, 64, timeout);
        /* Inside the store's closing gate while it works: samsa_close()
         * waits for the work in hand, then stops the loop (listener_
         * service); once closing, the loop does nothing more. */
        if (store_enter(l->s) != 0)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &l->lfd) {
                conn_accept(l);
            } else if (evs[i].data.ptr == &l->evfd) {
                uint64_t v;
                (void)read(l->evfd, &v, sizeof v);
            } else {
                conn_service(l, evs[i].data.ptr, evs[i].events);
            }
        }
        timeout = parked_retry(l);
        store_leave(l->s);
    }
    return NULL;
}

static void *
waker_main(void *arg)
{
    samsa_listener *l = arg;
    const uint64_t one = 1;
    samsa__spinner spin = {0}; /* this thread's waits */
    for (;;) {
        pthread_mutex_lock(&l->lock);
        while (l->parked == 0 && !atomic_load(&l->stop))
            pthread_cond_wait(&l->cond, &l->lock);
        pthread_mutex_unlock(&l->lock);
        uint64_t seen = store_watch(l->s);
        /* Watching before looking at stop: close sets stop, then
         * notifies the store, so either this sees stop or the wait
         * below sees the notification. */
        if (atomic_load(&l->stop)) {
            store_unwatch(l->s);
            return NULL;
        }
        (void)!write(l->evfd, &one, sizeof one); /* look once more: above */
        int rc = store_wait(l->s, seen, -1, &spin);
        store_unwatch(l->s);
        if (rc == SAMSA_ECLOSED)
            return NULL; /* the store closes under us: see the header */
    }
}

/* ---- opening and closing ----------------------------------------------- */

static int
listen_on(samsa_listener *l)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, l->cfg.host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)l->cfg.port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, l->cfg.host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)l->cfg.port);
        sl = sizeof *a6;
    } else {
        return SAMSA_EINVAL;
    }
    l->lfd =
        socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->lfd < 0)
        return samsa__from_errno(-errno);
    int one = 1;
    (void)setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l->lfd, (struct sockaddr *)&ss, sl) != 0 ||
        listen(l->lfd, 128) != 0 ||
        getsockname(l->lfd, (struct sockaddr *)&ss, &sl) != 0)
        return samsa__from_errno(-errno);
    l->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    return 0;
}

static void
listener_free(samsa_listener *l)
{
    while (l->conns != NULL)
        conn_free(l, l->conns);
    kgroups_free(l);
    kidem_free(l);
    ksasl_free(l->sasl);
    if (l->lfd >= 0)
        close(l->lfd);
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    if (l->spare >= 0)
        close(l->spare);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l->advertised);
    free(l);
}

static int
listener_start(samsa_listener *l)
{
    int rc = listen_on(l);
    if (rc != 0)
        return rc;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->evfd < 0)
        return samsa__from_errno(-errno);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->lfd};
    struct epoll_event wv = {.events = EPOLLIN, .data.ptr = &l->evfd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->lfd, &ev) != 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &wv) != 0)
        return samsa__from_errno(-errno);
    if (pthread_create(&l->loop, NULL, loop_main, l) != 0)
        return SAMSA_ENOMEM;
    if (pthread_create(&l->waker, NULL, waker_main, l) != 0) {
        atomic_store(&l->stop, true);
        const uint64_t one = 1;
        (void)!write(l->evfd, &one, sizeof one);
        pthread_join(l->loop, NULL);
        return SAMSA_ENOMEM;
    }
    return 0;
}

SAMSA_API int
samsa_listener_open(samsa *s, const samsa_listener_config *cfg,
                    samsa_listener **out)
{
    static const samsa_listener_config none;
    if (s == NULL || out == NULL)
        return SAMSA_EINVAL;
    if (cfg == NULL)
        cfg = &none;
    if (cfg->port < 0 || cfg->port > 65535 || cfg->max_connections < 0 ||
        cfg->max_partitions < 0 || cfg->max_partitions > SAMSA_MAX_PARTITIONS ||
        cfg->max_request_bytes < 0 ||
        (cfg->max_request_bytes > 0 && cfg->max_request_bytes < 1024) ||
        cfg->fetch_max_bytes < 0 || !SAMSA_RESERVED_ZERO(cfg->reserved))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    samsa_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return SAMSA_ENOMEM;
    l->s = s;
    l->cfg = *cfg;
    l->lfd = l->epfd = l->evfd = -1;
    l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    if (l->cfg.host == NULL)
        l->cfg.host = "127.0.0.1";
    if (l->cfg.max_connections == 0)
        l->cfg.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (l->cfg.max_request_bytes == 0)
        l->cfg.max_request_bytes = DEFAULT_MAX_REQUEST;
    if (l->cfg.max_partitions == 0)
        l->cfg.max_partitions = DEFAULT_MAX_PARTITIONS;
    if (l->cfg.fetch_max_bytes == 0)
        l->cfg.fetch_max_bytes = DEFAULT_FETCH_MAX;
    l->advertised = strdup(cfg->advertised_host != NULL ? cfg->advertised_host
                                                        : l->cfg.host);
    int rc = l->advertised == NULL ? SAMSA_ENOMEM : 0;
    if (rc == 0 && cfg->users_file != NULL)
        rc = ksasl_open(cfg->users_file, &l->sasl);
    if (rc == 0)
        rc = listener_start(l);
    /* The config's strings are the caller's: only the copies are kept. */
    l->cfg.host = NULL;
    l->cfg.advertised_host = NULL;
    l->cfg.users_file = NULL;
    if (rc != 0) {
        listener_free(l);
        return rc;
    }
    pthread_mutex_lock(&s->listen_lock);
    l->next_in_store = s->listeners;
    s->listeners = l;
    pthread_mutex_unlock(&s->listen_lock);
    *out = l;
    return 0;
}

SAMSA_API int
samsa_listener_port(const samsa_listener *l)
{
    return l != NULL ? l->port : SAMSA_EINVAL;
}

/* Join the threads, close every connection and the sockets: the
 * listener touches the store no more. */
void
listener_stop(samsa_listener *l)
{
    if (l->stopped)
        return;
    atomic_store(&l->stop, true);
    const uint64_t one = 1;
    (void)!write(l->evfd, &one, sizeof one);
    pthread_join(l->loop, NULL);
    listener_parked_add(l, 0); /* wakes the waker if it sleeps idle */
    store_notify(l->s);        /* and if it watches (waker_main) */
    pthread_join(l->waker, NULL);
    while (l->conns != NULL)
        conn_free(l, l->conns);
    l->stopped = true;
}

SAMSA_API int
samsa_listener_close(samsa_listener *l)
{
    if (l == NULL)
        return SAMSA_EINVAL;
    if (!l->stopped) { /* else samsa_close() stopped and unlisted it */
        samsa *s = l->s;
        pthread_mutex_lock(&s->listen_lock);
        for (samsa_listener **pp = &s->listeners; *pp != NULL;
             pp = &(*pp)->next_in_store)
            if (*pp == l) {
                *pp = l->next_in_store;
                break;
            }
        pthread_mutex_unlock(&s->listen_lock);
        listener_stop(l);
    }
    listener_free(l);
    return 0;
}

/* ---- the store's service ------------------------------------------------ */

static int
listener_service_open(samsa *s)
{
    pthread_mutex_init(&s->listen_lock, NULL);
    s->listeners = NULL;
    return 0;
}

/* samsa_close() with listeners still open: each is stopped (its clients
 * see their connections close), and its memory waits for
 * samsa_listener_close(), which then only frees it. */
static void
listener_service_close(samsa *s)
{
    pthread_mutex_lock(&s->listen_lock);
    samsa_listener *l = s->listeners;
    s->listeners = NULL;
    pthread_mutex_unlock(&s->listen_lock);
    for (; l != NULL; l = l->next_in_store)
        listener_stop(l);
    pthread_mutex_destroy(&s->listen_lock);
}

const store_service listener_service = {
    .open = listener_service_open,
    .close = listener_service_close,
};
