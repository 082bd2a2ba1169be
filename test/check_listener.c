/*
 * check_listener.c - the Kafka listener over a real socket: the versions
 * it advertises, Produce and Fetch with exact offsets and contents,
 * refusals that store nothing, a fetch woken by an in-process produce,
 * hostile frames that close only their own connection, and SASL/PLAIN
 * logins with a users file (good, wrong, refused before login).  (Real
 * clients: test/interop/listener_rdkafka.c, run by make check.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "faultio.h"
#include "listener/listener.h"
#include "util/samsa_int.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "test.h"

typedef struct lrig {
    const char *dir;
    samsa *s;
    samsa_listener *l;
} lrig;

/* A store with topic "t" (tc, or 2 partitions) and a listener. */
static void
lrig_open_topic(lrig *r, const samsa_listener_config *cfg,
                const samsa_topic_config *tc)
{
    r->dir = test_dir_make();
    r->s = test_open(r->dir);
    samsa_topic_config c = {.partitions = 2};
    ck_assert_int_eq(samsa_topic_create(r->s, "t", tc ? tc : &c), 0);
    ck_assert_int_eq(samsa_listener_open(r->s, cfg, &r->l), 0);
    ck_assert_int_gt(samsa_listener_port(r->l), 0);
}

static void
lrig_open(lrig *r, const samsa_listener_config *cfg)
{
    lrig_open_topic(r, cfg, NULL);
}

static void
lrig_close(lrig *r)
{
    ck_assert_int_eq(samsa_listener_close(r->l), 0);
    ck_assert_int_eq(samsa_close(r->s), 0);
    test_dir_remove(r->dir);
}

/* A connection; rcvbuf > 0 sets its receive buffer first (small: the
 * listener's replies then go out in many partial sends). */
static int
dial_buf(const lrig *r, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        ck_assert_int_eq(
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port =
                                htons((uint16_t)samsa_listener_port(r->l))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static int
dial(const lrig *r)
{
    return dial_buf(r, 0);
}

static void
send_all(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Send a request: header v1 (v2 when flex), body. */
static void
request(int fd, int16_t key, int16_t version, int32_t corr, bool flex,
        const kwrite *body)
{
    kwrite w = {0};
    size_t at = kwrite_reserve32(&w);
    kwrite_i16(&w, key);
    kwrite_i16(&w, version);
    kwrite_i32(&w, corr);
    kwrite_strz(&w, false, "check");
    kwrite_tags(&w, flex);
    kwrite_raw(&w, body->buf, body->len);
    kwrite_patch32(&w, at, (int32_t)(w.len - 4));
    send_all(fd, w.buf, w.len);
    kwrite_free(&w);
}

/* Read one reply: its body (after the correlation id, which must be
 * corr) malloc'ed in *out; false when the listener closed. */
static bool
reply(int fd, int32_t corr, uint8_t **out, size_t *len)
{
    uint8_t h[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = recv(fd, h + got, 4 - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    size_t size = test_be32(h);
    uint8_t *b = malloc(size);
    for (got = 0; got < size;) {
        ssize_t n = recv(fd, b + got, size - got, 0);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert_int_eq((int32_t)test_be32(b), corr);
    *len = size - 4;
    *out = memmove(b, b + 4, size - 4);
    return true;
}

/* Read the reply to corr into *rd: the reply's buffer, for free(). */
static uint8_t *
answer(int fd, int32_t corr, kread *rd)
{
    uint8_t *rep;
    size_t rl;
    ck_assert(reply(fd, corr, &rep, &rl));
    kread_init(rd, rep, rl);
    return rep;
}

/* Send a request (body freed) and read its reply into *rd: the reply's
 * buffer, for free(). */
static uint8_t *
ask(int fd, int16_t key, int16_t v, int32_t corr, bool flex, kwrite *b,
    kread *rd)
{
    request(fd, key, v, corr, flex, b);
    kwrite_free(b);
    return answer(fd, corr, rd);
}

/* The head of a reply's only topic entry: topic "t", with the one
 * partition p. */
static void
reply_topic(kread *rd, int32_t p)
{
    ck_assert_int_eq(kread_array(rd, false, 6), 1);
    ck_assert(kstr_eq(kread_str(rd, false), "t"));
    ck_assert_int_eq(kread_array(rd, false, 6), 1);
    ck_assert_int_eq(kread_i32(rd), p);
}

/* The listener closed the connection: the end of the stream, or a reset.
 * A socket closed with bytes of ours still unread (a request pipelined
 * after the one that ended the connection) sends RST, not FIN, and then
 * recv() says ECONNRESET; which one comes depends on whether the listener
 * had read those bytes when it closed (an ASan run of test_sasl_plain
 * once saw the reset). */
static bool
closed_by_peer(int fd)
{
    uint8_t b;
    ssize_t n = recv(fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* ---- ApiVersions -------------------------------------------------------- */

START_TEST(test_api_versions)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    kwrite b = {0};
    kwrite_strz(&b, true, "check");
    kwrite_strz(&b, true, "1");
    kwrite_tags(&b, true);
    request(fd, 18, 3, 7, true, &b);
    uint8_t *rep;
    size_t len;
    ck_assert(reply(fd, 7, &rep, &len));
    kread rd;
    kread_init(&rd, rep, len);
    ck_assert_int_eq(kread_i16(&rd), 0);
    static const int16_t want[][3] = {
        {0, 3, 8},  {1, 4, 11}, {2, 1, 5},  {3, 0, 8},  {8, 2, 7},
        {9, 1, 5},  {10, 0, 2}, {18, 0, 3}, {19, 0, 4}, {20, 0, 3},
        {21, 0, 1}, {37, 0, 1}, {11, 0, 5}, {12, 0, 3}, {13, 0, 3},
        {14, 0, 3}, {15, 0, 4}, {16, 0, 2}, {22, 0, 1}, {32, 0, 3}};
    ck_assert_int_eq(kread_array(&rd, true, 6), 20);
    for (int i = 0; i < 20; i++) {
        for (int k = 0; k < 3; k++)
            ck_assert_int_eq(kread_i16(&rd), want[i][k]);
        kread_tags(&rd, true);
    }
    ck_assert_int_eq(kread_i32(&rd), 0);
    kread_tags(&rd, true);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    /* A version from the future: version 0's layout, UNSUPPORTED_VERSION
     * and the table (KIP-511), and the connection stays. */
    request(fd, 18, 99, 8, false, &(kwrite){0});
    ck_assert(reply(fd, 8, &rep, &len));
    kread_init(&rd, rep, len);
    ck_assert_int_eq(kread_i16(&rd), 35);
    ck_assert_int_eq(kread_array(&rd, false, 6), 20);
    ck_assert_uint_eq(len, 2 + 4 + 20 * 6);
    free(rep);
    /* An API not served: the connection closes. */
    request(fd, 9, 1, 9, false, &(kwrite){0});
    ck_assert(closed_by_peer(fd));
    close(fd);
    kwrite_free(&b);
    lrig_close(&r);
}
END_TEST

/* ---- SASL/PLAIN ---------------------------------------------------------- */

/* A users file in dir (a test directory) with text; its path (static). */
static const char *
users_file(const char *dir, const char *name, const char *text, size_t len)
{
    const char *path = test_path(dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

#define USERS                                                                  \
    "# who may connect\n"                                                      \
    "\n"                                                                       \
    "alice:s3cret:with:colons\n"                                               \
    "bob:hunter2\r\n"

/* A listener with USERS (its file under r->dir's sibling *udir). */
static void
lrig_open_sasl(lrig *r, const char **udir)
{
    *udir = test_dir_make();
    samsa_listener_config cfg = {
        .users_file = users_file(*udir, "users", USERS, strlen(USERS))};
    lrig_open(r, &cfg);
}

/* SaslHandshake v(ersion) for mech: its error code; the reply lists
 * exactly PLAIN. */
static int16_t
sasl_handshake(int fd, int16_t v, const char *mech, int32_t corr)
{
    kwrite b = {0};
    kwrite_strz(&b, false, mech);
    kread rd;
    uint8_t *rep = ask(fd, KAPI_SASL_HANDSHAKE, v, corr, false, &b, &rd);
    int16_t err = kread_i16(&rd);
    ck_assert_int_eq(kread_array(&rd, false, 2), 1);
    ck_assert(kstr_eq(kread_str(&rd, false), "PLAIN"));
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return err;
}

/* SaslAuthenticate v(ersion) with RFC 4616's message authz NUL user NUL
 * pass: its error code; *msg gets the error message (static; "" for
 * null).  The reply's layout is checked exactly (v2: flexible header). */
static int16_t
sasl_auth(int fd, int16_t v, const char *authz, const char *user,
          const char *pass, int32_t corr, const char **msg)
{
    bool flex = v >= 2;
    char tok[256];
    int n = snprintf(tok, sizeof tok, "%s%c%s%c%s", authz, 0, user, 0, pass);
    kwrite b = {0};
    kwrite_bytes_len(&b, flex, n);
    kwrite_raw(&b, tok, (size_t)n);
    kwrite_tags(&b, flex);
    kread rd;
    uint8_t *rep = ask(fd, KAPI_SASL_AUTHENTICATE, v, corr, flex, &b, &rd);
    kread_tags(&rd, flex); /* the flexible reply header's */
    int16_t err = kread_i16(&rd);
    kstr m = kread_str(&rd, flex);
    static char text[256];
    ck_assert_uint_lt(m.len, sizeof text);
    memcpy(text, m.p != NULL ? m.p : "", m.len);
    text[m.len] = '\0';
    *msg = text;
    ck_assert_int_eq(kread_bytes(&rd, flex).len, 0);
    if (v >= 1)
        ck_assert_int_eq(kread_i64(&rd), 0); /* session lifetime */
    kread_tags(&rd, flex);
    ck_assert(!rd.bad && rd.p == rd.end);
    ck_assert_int_eq(err == 0, m.p == NULL);
    free(rep);
    return err;
}

/* A Metadata v0 for every topic is answered: one broker, node 0, here. */
static void
metadata_answered(int fd, const lrig *r, int32_t corr)
{
    kwrite b = {0};
    kwrite_array(&b, false, 0);
    kread rd;
    uint8_t *rep = ask(fd, KAPI_METADATA, 0, corr, false, &b, &rd);
    ck_assert_int_eq(kread_array(&rd, false, 10), 1);
    ck_assert_int_eq(kread_i32(&rd), 0);
    ck_assert(kstr_eq(kread_str(&rd, false), "127.0.0.1"));
    ck_assert_int_eq(kread_i32(&rd), samsa_listener_port(r->l));
    free(rep);
}

/* A connection authenticated (SaslAuthenticate v) and then served. */
static int
sasl_login(const lrig *r, int16_t v, const char *authz, const char *user,
           const char *pass)
{
    int fd = dial(r);
    const char *msg;
    ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 1), 0);
    ck_assert_int_eq(sasl_auth(fd, v, authz, user, pass, 2, &msg), 0);
    metadata_answered(fd, r, 3);
    return fd;
}

/* ApiVersions v0: the number of APIs listed; with SASL, the table ends
 * with SaslHandshake 0-1 and SaslAuthenticate 0-2. */
static int32_t
api_count(int fd, int32_t corr)
{
    kread rd;
    uint8_t *rep =
        ask(fd, KAPI_API_VERSIONS, 0, corr, false, &(kwrite){0}, &rd);
    ck_assert_int_eq(kread_i16(&rd), 0);
    int32_t n = kread_array(&rd, false, 6);
    ck_assert_int_eq(rd.end - rd.p, n * 6);
    for (int32_t i = 0; i < n; i++) {
        int16_t key = kread_i16(&rd), min = kread_i16(&rd),
                max = kread_i16(&rd);
        /* The SASL keys are the table's last two, or not in it. */
        if (n == 22 && i == n - 2)
            ck_assert(key == 17 && min == 0 && max == 1);
        else if (n == 22 && i == n - 1)
            ck_assert(key == 36 && min == 0 && max == 2);
        else
            ck_assert(key != 17 && key != 36);
    }
    free(rep);
    return n;
}

#define BAD_CREDS "Authentication failed: Invalid username or password"

START_TEST(test_sasl_plain)
{
    lrig r;
    const char *udir;
    lrig_open_sasl(&r, &udir);
    const char *msg;
    /* The password runs to the end of the line, colons and all. */
    int fd = dial(&r);
    ck_assert_int_eq(api_count(fd, 1), 22);
    ck_assert_int_eq(api_count(fd, 2), 22); /* asked again: still fine */
    ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 3), 0);
    ck_assert_int_eq(
        sasl_auth(fd, 0, "", "alice", "s3cret:with:colons", 4, &msg), 0);
    metadata_answered(fd, &r, 5);
    /* Authenticated: both SASL requests are refused, the connection stays. */
    ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 6), 34);
    ck_assert_int_eq(sasl_auth(fd, 1, "", "alice", "x", 7, &msg), 34);
    ck_assert_str_eq(msg, "SaslAuthenticate request received after "
                          "successful authentication");
    metadata_answered(fd, &r, 8);
    close(fd);
    /* v2 (flexible), the CR of a CRLF line not in the password, and an
     * authzid equal to the user. */
    close(sasl_login(&r, 2, "bob", "bob", "hunter2"));
    /* Refusals: SASL_AUTHENTICATION_FAILED with Kafka's message, then the
     * connection closes (the request pipelined behind is not answered). */
    static const struct {
        const char *authz, *user, *pass, *msg;
    } bad[] = {
        {"", "alice", "s3cret", BAD_CREDS},
        {"", "alice", "s3cret:with:colons\r", BAD_CREDS},
        {"", "bob", "hunter2\r", BAD_CREDS},
        {"", "carol", "hunter2", BAD_CREDS},
        {"", "bob:hunter2", "x", BAD_CREDS},
        {"alice", "bob", "hunter2",
         "Authentication failed: Client requested an authorization id that "
         "is different from username"},
        {"", "", "hunter2", "Authentication failed: username not specified"},
        {"", "bob", "", "Authentication failed: password not specified"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd = dial(&r);
        ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 1), 0);
        ck_assert_int_eq(sasl_auth(fd, (int16_t)(i % 3), bad[i].authz,
                                   bad[i].user, bad[i].pass, 2, &msg),
                         58);
        ck_assert_str_eq(msg, bad[i].msg);
        ck_assert(closed_by_peer(fd));
        close(fd);
    }
    /* A message of other than three pieces. */
    static const struct {
        const char *tok;
        size_t len;
        const char *msg;
    } pieces[] = {
        {"bob", 3, "Invalid SASL/PLAIN response: expected 3 tokens, got 1"},
        {"bob\0hunter2", 11,
         "Invalid SASL/PLAIN response: expected 3 tokens, got 2"},
        {"\0bob\0hunter2\0", 13,
         "Invalid SASL/PLAIN response: expected 3 tokens, got 4"},
    };
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        fd = dial(&r);
        ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 1), 0);
        kwrite b = {0};
        kwrite_bytes_len(&b, false, (int64_t)pieces[i].len);
        kwrite_raw(&b, pieces[i].tok, pieces[i].len);
        request(fd, KAPI_SASL_AUTHENTICATE, 1, 2, false, &b);
        request(fd, KAPI_METADATA, 0, 3, false, &(kwrite){0}); /* pipelined */
        kwrite_free(&b);
        kread rd;
        uint8_t *rep = answer(fd, 2, &rd);
        ck_assert_int_eq(kread_i16(&rd), 58);
        ck_assert(kstr_eq(kread_str(&rd, false), pieces[i].msg));
        free(rep);
        ck_assert(closed_by_peer(fd));
        close(fd);
    }
    lrig_close(&r);
    test_dir_remove(udir);
}
END_TEST

START_TEST(test_sasl_gate)
{
    lrig r;
    const char *udir;
    lrig_open_sasl(&r, &udir);
    /* Before the handshake, only ApiVersions and SaslHandshake: anything
     * else closes the connection unanswered. */
    static const int16_t before[][2] = {{KAPI_METADATA, 0},
                                        {KAPI_SASL_AUTHENTICATE, 0},
                                        {KAPI_PRODUCE, 3},
                                        {KAPI_FIND_COORDINATOR, 0}};
    for (int i = 0; i < 4; i++) {
        int fd = dial(&r);
        kwrite b = {0};
        kwrite_array(&b, false, 0);
        request(fd, before[i][0], before[i][1], 1, false, &b);
        kwrite_free(&b);
        ck_assert(closed_by_peer(fd));
        close(fd);
    }
    /* After it, only SaslAuthenticate: ApiVersions and Metadata close. */
    for (int i = 0; i < 2; i++) {
        int fd = dial(&r);
        ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 1), 0);
        request(fd, i ? KAPI_METADATA : KAPI_API_VERSIONS, 0, 2, false,
                &(kwrite){0});
        ck_assert(closed_by_peer(fd));
        close(fd);
    }
    /* A second handshake: ILLEGAL_SASL_STATE, then closed. */
    int fd = dial(&r);
    ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 1), 0);
    ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 2), 34);
    ck_assert(closed_by_peer(fd));
    close(fd);
    /* A mechanism not enabled: UNSUPPORTED_SASL_MECHANISM with the list,
     * then the connection closes. */
    static const struct {
        int16_t v;
        const char *mech;
        int16_t err;
    } shakes[] = {
        {1, "SCRAM-SHA-256", 33}, {1, "plain", 33}, {0, "GSSAPI", 33}};
    for (int i = 0; i < 3; i++) {
        fd = dial(&r);
        ck_assert_int_eq(sasl_handshake(fd, shakes[i].v, shakes[i].mech, 1),
                         shakes[i].err);
        ck_assert(closed_by_peer(fd));
        close(fd);
    }
    /* Handshake v0: the next frame is the bare PLAIN message; right, an
     * empty frame answers it and the connection is served; wrong (or
     * empty), the connection closes unanswered. */
    static const struct {
        const char *tok;
        size_t len;
        bool ok;
    } raw[] = {{"\0bob\0hunter2", 12, true},
               {"alice\0alice\0s3cret:with:colons", 30, true},
               {"\0bob\0hunter3", 12, false},
               {"", 0, false},
               {"\0bob", 4, false}};
    for (int i = 0; i < 5; i++) {
        fd = dial(&r);
        ck_assert_int_eq(sasl_handshake(fd, 0, "PLAIN", 1), 0);
        uint8_t frame[64] = {0, 0, 0, (uint8_t)raw[i].len};
        memcpy(frame + 4, raw[i].tok, raw[i].len);
        send_all(fd, frame, 4 + raw[i].len);
        if (raw[i].ok) {
            uint8_t got[4];
            ck_assert_int_eq(recv(fd, got, 4, MSG_WAITALL), 4);
            ck_assert_int_eq(test_be32(got), 0);
            metadata_answered(fd, &r, 2);
        } else {
            ck_assert(closed_by_peer(fd));
        }
        close(fd);
    }
    /* A SaslAuthenticate version past 2 closes, as any unserved version. */
    fd = dial(&r);
    ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 1), 0);
    request(fd, KAPI_SASL_AUTHENTICATE, 3, 2, true, &(kwrite){0});
    ck_assert(closed_by_peer(fd));
    close(fd);
    /* Before login a frame may be 512 KiB at most: a larger size closes
     * the connection before its bytes come; logged in, it waits for
     * them (max_request_bytes, 100 MiB, bounds it then). */
    static const uint8_t big[4] = {0, 0x08, 0, 1}; /* 512 KiB + 1 */
    struct timeval tv = {.tv_sec = 2}; /* a wait, not a hang, if not */
    fd = dial(&r);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv),
                     0);
    send_all(fd, big, 4);
    ck_assert(closed_by_peer(fd));
    close(fd);
    fd = sasl_login(&r, 0, "", "alice", "s3cret:with:colons");
    send_all(fd, big, 4);
    tv = (struct timeval){.tv_usec = 100000};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv),
                     0);
    uint8_t b1;
    ck_assert_int_eq(recv(fd, &b1, 1, 0), -1); /* open, waiting */
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    close(fd);
    /* The connections refused did not stop the others. */
    close(sasl_login(&r, 1, "", "bob", "hunter2"));
    lrig_close(&r);
    test_dir_remove(udir);
    /* Without a users file the SASL APIs are neither listed nor served. */
    lrig_open(&r, NULL);
    fd = dial(&r);
    ck_assert_int_eq(api_count(fd, 1), 20);
    metadata_answered(fd, &r, 2);
    kwrite b = {0};
    kwrite_strz(&b, false, "PLAIN");
    request(fd, KAPI_SASL_HANDSHAKE, 1, 3, false, &b);
    kwrite_free(&b);
    ck_assert(closed_by_peer(fd));
    close(fd);
    lrig_close(&r);
}
END_TEST

/* Many users: each logs in with its own password only, and a name given
 * twice is found however far apart (the users are sorted at open). */
START_TEST(test_sasl_many_users)
{
    enum { NUSERS = 40000 }; /* under the file's 1 MiB */
    const char *udir = test_dir_make();
    size_t cap = (size_t)NUSERS * 24 + 64, len = 0;
    char *text = malloc(cap);
    for (int i = 0; i < NUSERS; i++)
        len += (size_t)sprintf(text + len, "user%d:pass-%d\n", i, i * 7);
    lrig r;
    samsa_listener_config cfg = {.users_file =
                                     users_file(udir, "many", text, len)};
    lrig_open(&r, &cfg);
    static const int who[] = {0, 1, 9999, 10000, 25000, NUSERS - 1};
    for (int i = 0; i < 6; i++) {
        char user[32], pass[32];
        snprintf(user, sizeof user, "user%d", who[i]);
        snprintf(pass, sizeof pass, "pass-%d", who[i] * 7);
        close(sasl_login(&r, (int16_t)(i % 3), "", user, pass));
        /* Another user's password is not this one's. */
        snprintf(pass, sizeof pass, "pass-%d", (who[i] + 1) * 7);
        int fd = dial(&r);
        const char *msg;
        ck_assert_int_eq(sasl_handshake(fd, 1, "PLAIN", 1), 0);
        ck_assert_int_eq(sasl_auth(fd, 1, "", user, pass, 2, &msg), 58);
        ck_assert_str_eq(msg, BAD_CREDS);
        ck_assert(closed_by_peer(fd));
        close(fd);
    }
    lrig_close(&r);
    /* user1 again at the end: refused, however many lines between. */
    len += (size_t)sprintf(text + len, "user1:again\n");
    samsa *s = test_open(r.dir = test_dir_make());
    cfg.users_file = users_file(udir, "twice", text, len);
    EQ_RC(samsa_listener_open(s, &cfg, &r.l), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_close(s), 0);
    test_dir_remove(r.dir);
    free(text);
    test_dir_remove(udir);
}
END_TEST

START_TEST(test_sasl_users_file)
{
    const char *dir = test_dir_make();
    const char *udir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_listener *l = NULL;
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        {"alice\n", 6},                         /* no colon */
        {"alice:pw\nbob\n", 13},                /* one line without */
        {":pw\n", 4},                           /* no user */
        {"alice:\n", 7},                        /* no password */
        {"alice:\r\n", 8},                      /* only a CR */
        {"alice:pw\nbob:x\nalice:other\n", 27}, /* alice twice */
        {"# only comments\n\n", 17},            /* no user at all */
        {"", 0},                                /* empty */
        {"alice:p\0w\n", 10},                   /* a NUL byte */
        {" # not a comment\n", 17},             /* no colon again */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        samsa_listener_config cfg = {
            .users_file = users_file(udir, "bad", bad[i].text, bad[i].len)};
        ck_assert_msg(samsa_listener_open(s, &cfg, &l) == SAMSA_EINVAL,
                      "users file %zu", i);
        ck_assert_ptr_null(l);
    }
    /* Too large (past 1 MiB), a directory, missing, under a file. */
    char *big = malloc((1 << 20) + 1);
    memset(big, '#', (1 << 20) + 1);
    samsa_listener_config cfg = {
        .users_file = users_file(udir, "big", big, (1 << 20) + 1)};
    free(big);
    EQ_RC(samsa_listener_open(s, &cfg, &l), SAMSA_EINVAL);
    cfg.users_file = udir;
    EQ_RC(samsa_listener_open(s, &cfg, &l), SAMSA_EINVAL);
    cfg.users_file = test_path(udir, "missing");
    EQ_RC(samsa_listener_open(s, &cfg, &l), -ENOENT);
    char under[600];
    snprintf(under, sizeof under, "%s/x", users_file(udir, "f", "a:b\n", 4));
    cfg.users_file = under;
    EQ_RC(samsa_listener_open(s, &cfg, &l), -ENOTDIR);
    ck_assert_ptr_null(l);
    /* A file of 1 MiB exactly is read; the file is not kept open, and
     * changing it later changes nothing. */
    char *most = malloc(1 << 20);
    memset(most, '#', 1 << 20);
    memcpy(most, "u:p\n", 4);
    cfg.users_file = users_file(udir, "most", most, 1 << 20);
    free(most);
    E(samsa_listener_open(s, &cfg, &l));
    E(samsa_listener_close(l));
    /* A reserved field set is refused too. */
    samsa_listener_config res = {.reserved = {[5] = 1}};
    EQ_RC(samsa_listener_open(s, &res, &l), SAMSA_EINVAL);
    res = (samsa_listener_config){.fetch_max_bytes = -1};
    EQ_RC(samsa_listener_open(s, &res, &l), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_close(s), 0);
    test_dir_remove(dir);
    test_dir_remove(udir);
}
END_TEST

/* ---- Produce and Fetch -------------------------------------------------- */

/* Records first..first+n-1 of gen.c, encoded as one v2 batch. */
static uint8_t *
gen_batch(int64_t first, size_t n, size_t *len)
{
    test_grec g[TEST_GEN_MAXB];
    samsa_record *rp[TEST_GEN_MAXB];
    size_t bodies[TEST_GEN_MAXB];
    for (size_t i = 0; i < n; i++) {
        test_gen(&g[i], first + (int64_t)i);
        rp[i] = &g[i].r;
    }
    *len = batch_encoded_size(rp, n, bodies);
    uint8_t *b = malloc(*len);
    (void)batch_encode(b, rp, n, bodies);
    return b;
}

/* Produce v8 (acks) of one batch to t-p: the partition's error code,
 * *base its base offset. */
static int16_t
produce_raw(int fd, int32_t p, int16_t acks, const uint8_t *batch, size_t len,
            int64_t *base)
{
    kwrite b = {0};
    kwrite_strz(&b, false, NULL);
    kwrite_i16(&b, acks);
    kwrite_i32(&b, 30000);
    kwrite_array(&b, false, 1);
    kwrite_strz(&b, false, "t");
    kwrite_array(&b, false, 1);
    kwrite_i32(&b, p);
    kwrite_bytes_len(&b, false, (int64_t)len);
    kwrite_raw(&b, batch, len);
    request(fd, 0, 8, 100 + p, false, &b);
    kwrite_free(&b);
    if (acks == 0)
        return 0;
    kread rd;
    uint8_t *rep = answer(fd, 100 + p, &rd);
    reply_topic(&rd, p);
    int16_t err = kread_i16(&rd);
    *base = kread_i64(&rd);
    ck_assert_int_eq(kread_i64(&rd), -1); /* CreateTime topic */
    ck_assert_int_eq(kread_i64(&rd), 0);  /* log start */
    ck_assert_int_eq(kread_array(&rd, false, 4), 0);
    ck_assert_ptr_null(kread_str(&rd, false).p);
    ck_assert_int_eq(kread_i32(&rd), 0);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return err;
}

/* The batches of a fetch reply's records: each checked (CRC), each
 * record exactly gen.c's record of its offset, offsets consecutive;
 * returns the records, *first the first offset (-1: none). */
static int64_t
check_batches(kstr recs, int64_t *first)
{
    const uint8_t *q = (const uint8_t *)recs.p;
    size_t left = recs.len;
    int64_t n = 0;
    *first = -1;
    while (left > 0) {
        batch_header h;
        ck_assert_int_eq(batch_parse_header(q, left, &h), 0);
        ck_assert_int_eq(batch_verify_crc(q, &h), 0);
        batch_iter it;
        batch_iter_init(&it, q, &h);
        samsa_message m;
        while (batch_iter_next(&it, &m) == 0) {
            TEST_CHECK_GEN(&m, m.offset);
            if (*first < 0)
                *first = m.offset;
            ck_assert_int_eq(m.offset, *first + n);
            n++;
        }
        q += BATCH_LOG_OVERHEAD + (size_t)h.length;
        left -= BATCH_LOG_OVERHEAD + (size_t)h.length;
    }
    return n;
}

/* Send a Fetch v5 of t-0 from offset 0 (max_wait ms, max_bytes in all
 * and for the partition). */
static void
fetch5(int fd, int32_t corr, int32_t max_wait, int32_t max_bytes)
{
    kwrite b = {0};
    kwrite_i32(&b, -1);
    kwrite_i32(&b, max_wait);
    kwrite_i32(&b, 1);
    kwrite_i32(&b, max_bytes);
    kwrite_i8(&b, 0);
    kwrite_array(&b, false, 1);
    kwrite_strz(&b, false, "t");
    kwrite_array(&b, false, 1);
    kwrite_i32(&b, 0);
    kwrite_i64(&b, 0);
    kwrite_i64(&b, -1);
    kwrite_i32(&b, max_bytes);
    request(fd, 1, 5, corr, false, &b);
    kwrite_free(&b);
}

/* Fetch v11 of t-p from offset (max_wait ms): the partition's error,
 * high watermark, and its records checked against gen.c from their
 * offsets on; returns the records decoded, *first the first offset. */
static int64_t
fetch_raw(int fd, int32_t p, int64_t offset, int32_t max_wait, int16_t *err,
          int64_t *hw, int64_t *first)
{
    kwrite b = {0};
    kwrite_i32(&b, -1);
    kwrite_i32(&b, max_wait);
    kwrite_i32(&b, 1);
    kwrite_i32(&b, 1 << 20);
    kwrite_i8(&b, 0);
    kwrite_i32(&b, 0);
    kwrite_i32(&b, -1);
    kwrite_array(&b, false, 1);
    kwrite_strz(&b, false, "t");
    kwrite_array(&b, false, 1);
    kwrite_i32(&b, p);
    kwrite_i32(&b, -1);
    kwrite_i64(&b, offset);
    kwrite_i64(&b, -1);
    kwrite_i32(&b, 1 << 20);
    kwrite_array(&b, false, 0);
    kwrite_strz(&b, false, NULL);
    kread rd;
    uint8_t *rep = ask(fd, 1, 11, 200, false, &b, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    ck_assert_int_eq(kread_i16(&rd), 0);
    ck_assert_int_eq(kread_i32(&rd), 0);
    reply_topic(&rd, p);
    *err = kread_i16(&rd);
    *hw = kread_i64(&rd);
    ck_assert_int_eq(kread_i64(&rd), *hw);
    (void)kread_i64(&rd);
    ck_assert_int_eq(kread_array(&rd, false, 16), -1);
    ck_assert_int_eq(kread_i32(&rd), -1);
    kstr recs = kread_bytes(&rd, false);
    ck_assert(!rd.bad && rd.p == rd.end);
    int64_t n = check_batches(recs, first);
    free(rep);
    return n;
}

/* Records 0..23 into t-1 in three batches of 8, acks=-1, each stored at
 * its offsets. */
static void
produce_three(int fd)
{
    int64_t base;
    for (int64_t first = 0; first < 24; first += 8) {
        size_t len;
        uint8_t *b = gen_batch(first, 8, &len);
        ck_assert_int_eq(produce_raw(fd, 1, -1, b, len, &base), 0);
        ck_assert_int_eq(base, first);
        free(b);
    }
}

START_TEST(test_produce_fetch)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    int64_t base;
    produce_three(fd);
    test_read_range(r.s, "t", 1, 0, 24); /* exactly records 0..23 */
    int16_t err;
    int64_t hw, firstoff;
    /* From 3: the batch holding it comes whole, from 0. */
    ck_assert_int_eq(fetch_raw(fd, 1, 3, 0, &err, &hw, &firstoff), 24);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(hw, 24);
    ck_assert_int_eq(firstoff, 0);
    ck_assert_int_eq(fetch_raw(fd, 1, 17, 0, &err, &hw, &firstoff), 8);
    ck_assert_int_eq(firstoff, 16);
    /* At the end: nothing, no error; past it: OFFSET_OUT_OF_RANGE. */
    ck_assert_int_eq(fetch_raw(fd, 1, 24, 0, &err, &hw, &firstoff), 0);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(fetch_raw(fd, 1, 25, 0, &err, &hw, &firstoff), 0);
    ck_assert_int_eq(err, 1);
    ck_assert_int_eq(fetch_raw(fd, 7, 0, 0, &err, &hw, &firstoff), 0);
    ck_assert_int_eq(err, 3);
    /* acks=0: stored, no reply (the next reply is the fetch's). */
    size_t len;
    uint8_t *b = gen_batch(0, 4, &len);
    ck_assert_int_eq(produce_raw(fd, 0, 0, b, len, &base), 0);
    free(b);
    ck_assert_int_eq(fetch_raw(fd, 0, 0, 0, &err, &hw, &firstoff), 4);
    ck_assert_int_eq(hw, 4);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* fetch_max_bytes bounds a Fetch answer whatever the client asks (1 MiB
 * here, in fetch_raw()), the first batch whole: with it at 1 byte, three
 * batches of 8 give one batch a fetch, and the fetches after it the next
 * ones.  A client's 2 GiB was taken as it was, and a waiting fetch built
 * that much again at every wake-up. */
START_TEST(test_fetch_max_bytes)
{
    lrig r;
    samsa_listener_config cfg = {.fetch_max_bytes = 1};
    lrig_open(&r, &cfg);
    int fd = dial(&r);
    produce_three(fd);
    int16_t err;
    int64_t hw, firstoff;
    for (int64_t from = 0; from < 24; from += 8) {
        ck_assert_int_eq(fetch_raw(fd, 1, from, 0, &err, &hw, &firstoff), 8);
        ck_assert_int_eq(err, 0);
        ck_assert_int_eq(hw, 24);
        ck_assert_int_eq(firstoff, from);
    }
    close(fd);
    lrig_close(&r);
}
END_TEST

/* ---- Idempotent produce ------------------------------------------------- */

/* InitProducerId v1 (no transactional id): the producer id, epoch 0. */
static int64_t
init_pid(int fd, const char *txn, int16_t *err)
{
    kwrite b = {0};
    kwrite_strz(&b, false, txn);
    kwrite_i32(&b, 60000);
    kread rd;
    uint8_t *rep = ask(fd, 22, 1, 300, false, &b, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    *err = kread_i16(&rd);
    int64_t pid = kread_i64(&rd);
    ck_assert_int_eq(kread_i16(&rd), pid < 0 ? -1 : 0);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return pid;
}

/* Records first..first+n-1 of gen.c as one batch of producer pid at
 * epoch, from sequence seq; produced to t-p: the error, *base. */
static int16_t
produce_idem(int fd, int32_t p, int64_t first, size_t n, int64_t pid,
             int16_t epoch, int32_t seq, int64_t *base)
{
    size_t len;
    uint8_t *b = gen_batch(first, n, &len);
    kapi_batch_set_producer(b, len, pid, epoch, seq);
    *base = -2;
    int16_t err = produce_raw(fd, p, -1, b, len, base);
    free(b);
    return err;
}

/* Kafka's sequence rules (KIP-98): a retry of one of the last 5 batches
 * is answered with its first offset and not stored again; a gap is
 * OUT_OF_ORDER_SEQUENCE_NUMBER (45), an old epoch INVALID_PRODUCER_EPOCH
 * (47), a new epoch starts at 0.  After a restart, the ids go on from
 * the catalog and the sequences are read back from the batches' headers:
 * a retry across it is still a duplicate. */
START_TEST(test_idempotent_produce)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    int16_t err;
    ck_assert_int_eq(init_pid(fd, NULL, &err), 0);
    ck_assert_int_eq(err, 0);
    int64_t pid = init_pid(fd, NULL, &err);
    ck_assert_int_eq(pid, 1);
    /* Transactions are not served. */
    ck_assert_int_eq(init_pid(fd, "tx", &err), -1);
    ck_assert_int_eq(err, 42);
    int64_t base;
    ck_assert_int_eq(produce_idem(fd, 0, 0, 3, pid, 0, 0, &base), 0);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(produce_idem(fd, 0, 0, 3, pid, 0, 0, &base), 0);
    ck_assert_int_eq(base, 0); /* the retry: the first offset again */
    ck_assert_int_eq(produce_idem(fd, 0, 3, 2, pid, 0, 3, &base), 0);
    ck_assert_int_eq(base, 3);
    /* A gap, and a batch that overlaps without being one stored. */
    ck_assert_int_eq(produce_idem(fd, 0, 5, 1, pid, 0, 6, &base), 45);
    ck_assert_int_eq(base, -1);
    ck_assert_int_eq(produce_idem(fd, 0, 5, 2, pid, 0, 4, &base), 45);
    /* Each partition has its own sequence. */
    ck_assert_int_eq(produce_idem(fd, 1, 0, 1, pid, 0, 0, &base), 0);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(produce_idem(fd, 1, 1, 1, 0, 0, 0, &base), 0);
    ck_assert_int_eq(base, 1); /* producer 0 too */
    ck_assert_int_eq(produce_idem(fd, 0, 5, 2, pid, 0, 5, &base), 0);
    ck_assert_int_eq(base, 5);
    /* Five more batches: the first retry is out of the window (45), the
     * last five are still answered with their offsets. */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(produce_idem(fd, 0, 7 + i, 1, pid, 0, 7 + i, &base),
                         0);
        ck_assert_int_eq(base, 7 + i);
    }
    ck_assert_int_eq(produce_idem(fd, 0, 5, 2, pid, 0, 5, &base), 45);
    ck_assert_int_eq(produce_idem(fd, 0, 7, 1, pid, 0, 7, &base), 0);
    ck_assert_int_eq(base, 7);
    /* A new epoch starts at 0; the old one is fenced. */
    ck_assert_int_eq(produce_idem(fd, 0, 12, 1, pid, 1, 5, &base), 45);
    ck_assert_int_eq(produce_idem(fd, 0, 12, 1, pid, 1, 0, &base), 0);
    ck_assert_int_eq(base, 12);
    ck_assert_int_eq(produce_idem(fd, 0, 13, 1, pid, 0, 12, &base), 47);
    /* A batch whose lastOffsetDelta counts records it does not hold
     * would move the sequence past what is stored: CORRUPT_MESSAGE. */
    size_t blen;
    uint8_t *bad = gen_batch(13, 2, &blen);
    samsa__be32_put(bad + 23, 2);
    kapi_batch_set_producer(bad, blen, pid, 1, 1);
    ck_assert_int_eq(produce_raw(fd, 0, -1, bad, blen, &base), 2);
    free(bad);
    test_read_range(r.s, "t", 0, 0, 13); /* each record once, in order */
    test_read_range(r.s, "t", 1, 0, 2);
    close(fd);

    /* Restart: the next ids come from the next block; producer 1's state
     * comes back from the log. */
    ck_assert_int_eq(samsa_listener_close(r.l), 0);
    ck_assert_int_eq(samsa_close(r.s), 0);
    r.s = test_open(r.dir);
    ck_assert_int_eq(samsa_listener_open(r.s, NULL, &r.l), 0);
    fd = dial(&r);
    ck_assert_int_eq(produce_idem(fd, 0, 12, 1, pid, 1, 0, &base), 0);
    ck_assert_int_eq(base, 12); /* a retry across the restart */
    ck_assert_int_eq(produce_idem(fd, 0, 13, 1, pid, 0, 1, &base), 47);
    ck_assert_int_eq(produce_idem(fd, 0, 13, 1, pid, 1, 2, &base), 45);
    ck_assert_int_eq(produce_idem(fd, 0, 13, 1, pid, 1, 1, &base), 0);
    ck_assert_int_eq(base, 13);
    /* Partition 1, read back once: both producers' last batches. */
    ck_assert_int_eq(produce_idem(fd, 1, 1, 1, 0, 0, 0, &base), 0);
    ck_assert_int_eq(base, 1);
    ck_assert_int_eq(produce_idem(fd, 1, 0, 1, pid, 0, 0, &base), 0);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(produce_idem(fd, 1, 2, 1, pid, 0, 2, &base), 45);
    ck_assert_int_eq(produce_idem(fd, 1, 2, 1, pid, 0, 1, &base), 0);
    ck_assert_int_eq(base, 2);
    test_read_range(r.s, "t", 1, 0, 3);
    ck_assert_int_eq(init_pid(fd, NULL, &err), 1000);
    /* An id the log has never seen: any sequence, as Kafka takes one
     * whose state is gone. */
    ck_assert_int_eq(produce_idem(fd, 0, 14, 1, 77, 0, 9, &base), 0);
    ck_assert_int_eq(base, 14);
    test_read_range(r.s, "t", 0, 0, 15);
    /* The topic deleted and made again: producer 77's batch of sequence 9
     * is no retry of the one the old log held, and is stored. */
    ck_assert_int_eq(samsa_topic_delete(r.s, "t"), 0);
    samsa_topic_config tc = {.partitions = 2};
    ck_assert_int_eq(samsa_topic_create(r.s, "t", &tc), 0);
    ck_assert_int_eq(produce_idem(fd, 0, 0, 1, 77, 0, 9, &base), 0);
    ck_assert_int_eq(base, 0);
    test_read_range(r.s, "t", 0, 0, 1);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* An idempotent batch holding a record without a key, to a compacted
 * topic: INVALID_RECORD (87), nothing stored, as samsa_produce() answers
 * a plain batch (regression: the idempotent path stored it). */
START_TEST(test_idempotent_compacted)
{
    lrig r;
    samsa_topic_config tc = {.partitions = 1,
                             .cleanup_policy = SAMSA_CLEANUP_COMPACT};
    lrig_open_topic(&r, NULL, &tc);
    int fd = dial(&r);
    int16_t err;
    int64_t pid = init_pid(fd, NULL, &err);
    ck_assert_int_eq(err, 0);
    int64_t base;
    /* Records 1..3 of gen.c have keys; record 7 has none. */
    ck_assert_int_eq(produce_idem(fd, 0, 1, 3, pid, 0, 0, &base), 0);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(produce_idem(fd, 0, 7, 1, pid, 0, 3, &base), 87);
    int64_t end;
    ck_assert_int_eq(samsa_offsets(r.s, "t", 0, NULL, &end), 0);
    ck_assert_int_eq(end, 3);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* ---- DescribeConfigs ----------------------------------------------------- */

/* DescribeConfigs v (0, 1 or 3) of one resource (keys: NULL for all, else
 * n names); the reply read into a flat list "name=value/src/syn" joined
 * by ';' in *listed, the resource's error returned. */
static int16_t
describe_raw(int fd, int16_t v, int8_t type, const char *name,
             const char *const *keys, int n, bool synonyms, char *listed,
             size_t cap)
{
    kwrite b = {0};
    kwrite_array(&b, false, 1);
    kwrite_i8(&b, type);
    kwrite_strz(&b, false, name);
    kwrite_array(&b, false, keys == NULL ? -1 : n);
    for (int i = 0; keys != NULL && i < n; i++)
        kwrite_strz(&b, false, keys[i]);
    if (v >= 1)
        kwrite_i8(&b, synonyms);
    if (v >= 3)
        kwrite_i8(&b, 0);
    kread rd;
    uint8_t *rep = ask(fd, 32, v, 500, false, &b, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    ck_assert_int_eq(kread_array(&rd, false, 4), 1);
    int16_t err = kread_i16(&rd);
    ck_assert((kread_str(&rd, false).p == NULL) == (err == 0));
    ck_assert_int_eq(kread_i8(&rd), type);
    ck_assert(kstr_eq(kread_str(&rd, false), name));
    int32_t nc = kread_array(&rd, false, 4);
    size_t at = 0;
    listed[0] = '\0';
    for (int32_t i = 0; i < nc; i++) {
        kstr cn = kread_str(&rd, false), cv = kread_str(&rd, false);
        ck_assert_int_eq(kread_i8(&rd), 1); /* read-only */
        int src = kread_i8(&rd);            /* v0: is_default */
        ck_assert_int_eq(kread_i8(&rd), 0); /* not sensitive */
        int32_t ns = v >= 1 ? kread_array(&rd, false, 4) : 0;
        ck_assert_int_eq(ns, synonyms ? 1 : 0);
        for (int32_t k = 0; k < ns; k++) {
            ck_assert(kread_str(&rd, false).len == cn.len);
            ck_assert(kread_str(&rd, false).len == cv.len);
            ck_assert_int_eq(kread_i8(&rd), src);
        }
        int type3 = v >= 3 ? kread_i8(&rd) : 0;
        if (v >= 3)
            ck_assert_ptr_null(kread_str(&rd, false).p);
        at += (size_t)snprintf(listed + at, cap - at, "%s%.*s=%.*s/%d/%d",
                               i > 0 ? ";" : "", (int)cn.len, cn.p, (int)cv.len,
                               cv.p, src, type3);
    }
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return err;
}

/* A topic's config as samsa keeps it, by Kafka's names and exact values;
 * the broker's few; the errors. */
START_TEST(test_describe_configs)
{
    samsa_topic_config tc = {.partitions = 1,
                             .retention_ms = 3600000,
                             .segment_bytes = 1 << 20,
                             .max_message_bytes = 5000,
                             .compression = SAMSA_COMPRESSION_LZ4,
                             .timestamp_type = SAMSA_TIMESTAMP_LOG_APPEND_TIME,
                             .cleanup_policy = SAMSA_CLEANUP_COMPACT_DELETE,
                             .min_cleanable_dirty_ratio = 0.25f,
                             .delete_retention_ms = 5000,
                             .min_compaction_lag_ms = 100};
    lrig r;
    lrig_open_topic(&r, NULL, &tc);
    int fd = dial(&r);
    char got[2048];
    ck_assert_int_eq(
        describe_raw(fd, 1, 2, "t", NULL, 0, false, got, sizeof got), 0);
    ck_assert_str_eq(got, "cleanup.policy=compact,delete/1/0;"
                          "compression.type=lz4/1/0;"
                          "delete.retention.ms=5000/1/0;"
                          "index.interval.bytes=4096/1/0;"
                          "max.message.bytes=5000/1/0;"
                          "message.timestamp.type=LogAppendTime/1/0;"
                          "min.cleanable.dirty.ratio=0.25/1/0;"
                          "min.compaction.lag.ms=100/1/0;"
                          "min.insync.replicas=1/1/0;"
                          "retention.bytes=-1/1/0;"
                          "retention.ms=3600000/1/0;"
                          "segment.bytes=1048576/1/0;"
                          "segment.ms=9223372036854775807/1/0");
    /* v3: the keys asked for (an unknown one is left out), with their
     * types and synonyms. */
    static const char *const keys[] = {"retention.ms", "no.such",
                                       "compression.type"};
    ck_assert_int_eq(
        describe_raw(fd, 3, 2, "t", keys, 3, true, got, sizeof got), 0);
    ck_assert_str_eq(got, "compression.type=lz4/1/2;retention.ms=3600000/1/5");
    /* v0: is_default false. */
    ck_assert_int_eq(
        describe_raw(fd, 0, 2, "t", keys, 1, false, got, sizeof got), 0);
    ck_assert_str_eq(got, "retention.ms=3600000/0/0");
    static const char *const bkeys[] = {"message.max.bytes", "num.partitions",
                                        "log.retention.ms"};
    ck_assert_int_eq(
        describe_raw(fd, 1, 4, "0", bkeys, 3, false, got, sizeof got), 0);
    ck_assert_str_eq(got, "log.retention.ms=-1/4/0;message.max.bytes=1048588/"
                          "4/0;num.partitions=1/4/0");
    ck_assert_int_eq(
        describe_raw(fd, 1, 2, "none", NULL, 0, false, got, sizeof got), 3);
    ck_assert_str_eq(got, "");
    ck_assert_int_eq(
        describe_raw(fd, 1, 4, "1", NULL, 0, false, got, sizeof got), 42);
    ck_assert_int_eq(
        describe_raw(fd, 1, 16, "g", NULL, 0, false, got, sizeof got), 42);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* A batch whose CRC fails, and one whose CRC holds over records that do
 * not parse: CORRUPT_MESSAGE, nothing stored, the connection stays. */
START_TEST(test_produce_refuses_damage)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    size_t len;
    uint8_t *b = gen_batch(0, 8, &len);
    int64_t base;
    b[len - 3] ^= 0x40;
    ck_assert_int_eq(produce_raw(fd, 0, -1, b, len, &base), 2);
    ck_assert_int_eq(base, -1);
    b[len - 3] ^= 0x40;
    /* One record more than the batch holds, CRC made anew. */
    uint8_t *cnt = b + BATCH_HEADER_SIZE - 4;
    cnt[3]++;
    uint32_t crc = samsa__crc32c(0, b + 21, len - 21);
    for (int i = 0; i < 4; i++)
        b[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
    ck_assert_int_eq(produce_raw(fd, 0, -1, b, len, &base), 2);
    int64_t first, end;
    ck_assert_int_eq(samsa_offsets(r.s, "t", 0, &first, &end), 0);
    ck_assert_int_eq(end, 0);
    free(b);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* A fetch at the end waits, and an in-process produce wakes it: with a
 * ten-minute max_wait the test would time out if only the deadline
 * answered it. */
typedef struct later {
    samsa *s;
    int64_t at;
} later;

static void *
produce_later(void *arg)
{
    later *w = arg;
    usleep(50000);
    test_produce_gen(w->s, "t", 0, w->at, 3);
    return NULL;
}

START_TEST(test_fetch_woken_by_produce)
{
    lrig r;
    lrig_open(&r, NULL);
    test_produce_gen(r.s, "t", 0, 0, 5);
    int fd = dial(&r);
    later w = {.s = r.s, .at = 5};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, produce_later, &w), 0);
    int16_t err;
    int64_t hw, first;
    ck_assert_int_eq(fetch_raw(fd, 0, 5, 600000, &err, &hw, &first), 3);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(first, 5);
    ck_assert_int_eq(hw, 8);
    pthread_join(t, NULL);
    close(fd);
    lrig_close(&r); /* a fetch still parked on another connection: */
}
END_TEST

/* Closing with a fetch parked frees it; the client sees the close. */
START_TEST(test_close_with_parked_fetch)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    fetch5(fd, 1, 600000, 1 << 20);
    usleep(20000);
    lrig_close(&r);
    ck_assert(closed_by_peer(fd));
    close(fd);
}
END_TEST

/* A fetch's batches are sent from the segments' mappings, in many partial
 * sends to a client with a small buffer, and stay readable after the
 * records were deleted (their segments unlinked) while the reply waited:
 * the reply holds the segments, not copies. */
START_TEST(test_fetch_from_mappings)
{
    samsa_topic_config tc = test_small_cfg(1, 0);
    lrig r;
    lrig_open_topic(&r, NULL, &tc);
    int64_t end = 0;
    test_produce_upto(r.s, "t", 0, &end, 2000, 0);
    int fd = dial_buf(&r, 4096);
    fetch5(fd, 77, 0, 8 << 20);
    usleep(100000); /* the reply is built and waits on the socket */
    ck_assert_int_eq(samsa_delete_records(r.s, "t", 0, end), 0);
    int64_t bases[4];
    ck_assert_uint_le(test_seg_bases(r.dir, "t", 0, bases, 4), 1);
    kread rd;
    uint8_t *rep = answer(fd, 77, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    reply_topic(&rd, 0);
    ck_assert_int_eq(kread_i16(&rd), 0);
    ck_assert_int_eq(kread_i64(&rd), end);
    ck_assert_int_eq(kread_i64(&rd), end);
    (void)kread_i64(&rd);
    ck_assert_int_eq(kread_array(&rd, false, 16), -1);
    kstr recs = kread_bytes(&rd, false);
    ck_assert(!rd.bad && rd.p == rd.end);
    int64_t first;
    ck_assert_int_eq(check_batches(recs, &first), end);
    ck_assert_int_eq(first, 0);
    free(rep);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* ---- committed offsets -------------------------------------------------- */

/* OffsetCommit v7 of t-p at offset for group g by member of generation:
 * the partition's error. */
static int16_t
commit_as(int fd, int32_t generation, const char *member, int32_t p,
          int64_t offset)
{
    kwrite b = {0};
    kwrite_strz(&b, false, "g");
    kwrite_i32(&b, generation);
    kwrite_strz(&b, false, member);
    kwrite_strz(&b, false, NULL);
    kwrite_array(&b, false, 1);
    kwrite_strz(&b, false, "t");
    kwrite_array(&b, false, 1);
    kwrite_i32(&b, p);
    kwrite_i64(&b, offset);
    kwrite_i32(&b, -1);
    kwrite_strz(&b, false, NULL);
    kread rd;
    uint8_t *rep = ask(fd, 8, 7, 300, false, &b, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    reply_topic(&rd, p);
    int16_t err = kread_i16(&rd);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return err;
}

/* OffsetCommit of t-p at offset from outside any group (generation -1). */
static int16_t
commit_raw(int fd, int32_t p, int64_t offset)
{
    return commit_as(fd, -1, "", p, offset);
}

/* The rest of an OffsetFetch v5 partition entry after its index: the
 * committed offset (-1: none); no leader epoch, no error. */
static int64_t
fetched_offset(kread *rd)
{
    int64_t offset = kread_i64(rd);
    ck_assert_int_eq(kread_i32(rd), -1);
    (void)kread_str(rd, false);
    ck_assert_int_eq(kread_i16(rd), 0);
    return offset;
}

/* OffsetFetch v5 of group g, t-p: the committed offset (-1: none). */
static int64_t
committed_raw(int fd, int32_t p)
{
    kwrite b = {0};
    kwrite_strz(&b, false, "g");
    kwrite_array(&b, false, 1);
    kwrite_strz(&b, false, "t");
    kwrite_array(&b, false, 1);
    kwrite_i32(&b, p);
    kread rd;
    uint8_t *rep = ask(fd, 9, 5, 301, false, &b, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    reply_topic(&rd, p);
    int64_t offset = fetched_offset(&rd);
    ck_assert_int_eq(kread_i16(&rd), 0);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return offset;
}

/* A Kafka client's commits and the in-process group's are one set of
 * offsets; while the group has in-process members, a commit from outside
 * it is refused (UNKNOWN_MEMBER_ID) and changes nothing. */
START_TEST(test_offsets_shared)
{
    lrig r;
    lrig_open(&r, NULL);
    test_produce_gen(r.s, "t", 0, 0, 8);
    test_produce_gen(r.s, "t", 1, 0, 8);
    int fd = dial(&r);
    ck_assert_int_eq(committed_raw(fd, 0), -1);
    ck_assert_int_eq(commit_raw(fd, 0, 6), 0);
    ck_assert_int_eq(committed_raw(fd, 0), 6);
    const char *topics[] = {"t", NULL};
    samsa_consumer_config cc = {.group = "g", .topics = topics};
    samsa_consumer *c;
    ck_assert_int_eq(samsa_consumer_open(r.s, &cc, &c), 0);
    samsa_message m;
    ck_assert_int_eq(samsa_consumer_poll(c, &m, 1000), 0);
    if (m.partition == 0) /* resumed where the Kafka client committed */
        ck_assert_int_eq(m.offset, 6);
    ck_assert_int_eq(commit_raw(fd, 1, 3), 25);
    ck_assert_int_eq(samsa_consumer_commit(c, NULL, 0), 0);
    ck_assert_int_eq(committed_raw(fd, m.partition),
                     m.partition == 0 ? 7 : m.offset + 1);
    ck_assert_int_eq(samsa_consumer_close(c), 0);
    ck_assert_int_eq(commit_raw(fd, 1, 3), 0);
    ck_assert_int_eq(committed_raw(fd, 1), 3);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* One OffsetFetch v5 of 300 committed partitions asked in reverse order,
 * and 20 never committed: each answered in the order asked, with its
 * exact offset or -1; then the null list (every committed partition),
 * in partition order.  Each asked partition was found by a scan of the
 * committed ones (asked times committed); now a binary search. */
START_TEST(test_offset_fetch_many)
{
    enum { P = 320, C = 300 };
    lrig r;
    samsa_topic_config tc = {.partitions = P};
    lrig_open_topic(&r, NULL, &tc);
    int fd = dial(&r);
    /* Commits are clamped to the log: partition p holds p % 8 + 1. */
    for (int32_t p = 0; p < C; p++) {
        test_produce_gen(r.s, "t", p, 0, (size_t)(p % 8 + 1));
        ck_assert_int_eq(commit_raw(fd, p, p % 8 + 1), 0);
    }
    for (int null = 0; null < 2; null++) {
        kwrite b = {0};
        kwrite_strz(&b, false, "g");
        if (null) {
            kwrite_array(&b, false, -1);
        } else {
            kwrite_array(&b, false, 1);
            kwrite_strz(&b, false, "t");
            kwrite_array(&b, false, P);
            for (int32_t p = P - 1; p >= 0; p--)
                kwrite_i32(&b, p);
        }
        kread rd;
        uint8_t *rep = ask(fd, 9, 5, 302, false, &b, &rd);
        ck_assert_int_eq(kread_i32(&rd), 0);
        ck_assert_int_eq(kread_array(&rd, false, 6), 1);
        ck_assert(kstr_eq(kread_str(&rd, false), "t"));
        ck_assert_int_eq(kread_array(&rd, false, 6), null ? C : P);
        for (int32_t k = 0; k < (null ? C : P); k++) {
            int32_t p = null ? k : P - 1 - k;
            ck_assert_int_eq(kread_i32(&rd), p);
            int64_t want = p < C ? p % 8 + 1 : -1;
            ck_assert_int_eq(fetched_offset(&rd), want);
        }
        ck_assert_int_eq(kread_i16(&rd), 0);
        ck_assert(!rd.bad && rd.p == rd.end);
        free(rep);
    }
    close(fd);
    lrig_close(&r);
}
END_TEST

/* ---- consumer groups ---------------------------------------------------- */

/* A JoinGroup reply, decoded. */
typedef struct joined {
    int16_t err;
    int32_t generation;
    char protocol[32], leader[96], member[96];
    int32_t nmembers;
    char ids[4][96];   /* the members, for the leader */
    char metas[4][16]; /* their metadata */
} joined;

static void
kstr_copy(char *dst, size_t cap, kstr s)
{
    ck_assert(s.p != NULL && s.len < cap);
    memcpy(dst, s.p, s.len);
    dst[s.len] = '\0';
}

/* The rebalance timeout joins ask for (v1+). */
static int32_t join_rebalance_ms = 5000;

/* Send JoinGroup v (0 or 5) to group g as member (""), with protocol
 * "range" and metadata meta; the reply is read by join_recv. */
static void
join_send(int fd, int16_t v, int32_t corr, const char *member,
          int32_t session_ms, const char *meta)
{
    kwrite b = {0};
    kwrite_strz(&b, false, "g");
    kwrite_i32(&b, session_ms);
    if (v >= 1)
        kwrite_i32(&b, join_rebalance_ms);
    kwrite_strz(&b, false, member);
    if (v >= 5)
        kwrite_strz(&b, false, NULL); /* group instance id */
    kwrite_strz(&b, false, "consumer");
    kwrite_array(&b, false, 1);
    kwrite_strz(&b, false, "range");
    kwrite_bytes_len(&b, false, (int64_t)strlen(meta));
    kwrite_raw(&b, meta, strlen(meta));
    request(fd, 11, v, corr, false, &b);
    kwrite_free(&b);
}

static joined
join_recv(int fd, int16_t v, int32_t corr)
{
    kread rd;
    uint8_t *rep = answer(fd, corr, &rd);
    joined j;
    memset(&j, 0, sizeof j);
    if (v >= 2)
        ck_assert_int_eq(kread_i32(&rd), 0);
    j.err = kread_i16(&rd);
    j.generation = kread_i32(&rd);
    kstr_copy(j.protocol, sizeof j.protocol, kread_str(&rd, false));
    kstr_copy(j.leader, sizeof j.leader, kread_str(&rd, false));
    kstr_copy(j.member, sizeof j.member, kread_str(&rd, false));
    j.nmembers = kread_array(&rd, false, 6);
    ck_assert(j.nmembers >= 0 && j.nmembers <= 4);
    for (int32_t i = 0; i < j.nmembers; i++) {
        kstr_copy(j.ids[i], sizeof j.ids[i], kread_str(&rd, false));
        if (v >= 5)
            ck_assert_ptr_null(kread_str(&rd, false).p);
        kstr_copy(j.metas[i], sizeof j.metas[i], kread_bytes(&rd, false));
    }
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return j;
}

/* A member's full join (v5): MEMBER_ID_REQUIRED first, then the join
 * with that id, sent; its reply is read by join_recv(fd, 5, 2). */
static void
join_new(int fd, int32_t session_ms, const char *meta, char *id)
{
    join_send(fd, 5, 1, "", session_ms, meta);
    joined j = join_recv(fd, 5, 1);
    ck_assert_int_eq(j.err, 79); /* MEMBER_ID_REQUIRED */
    ck_assert_int_eq(j.generation, -1);
    ck_assert_int_eq(j.nmembers, 0);
    ck_assert_int_gt(strlen(j.member), 6);
    ck_assert(strncmp(j.member, "check-", 6) == 0); /* from the client id */
    strcpy(id, j.member);
    join_send(fd, 5, 2, id, session_ms, meta);
}

/* SyncGroup v3 of member in generation, handing out n assignments
 * (members ids[i] get as[i]), sent. */
static void
sync_send(int fd, int32_t corr, int32_t generation, const char *member, int n,
          const char *const *ids, const char *const *as)
{
    kwrite b = {0};
    kwrite_strz(&b, false, "g");
    kwrite_i32(&b, generation);
    kwrite_strz(&b, false, member);
    kwrite_strz(&b, false, NULL);
    kwrite_array(&b, false, n);
    for (int i = 0; i < n; i++) {
        kwrite_strz(&b, false, ids[i]);
        kwrite_bytes_len(&b, false, (int64_t)strlen(as[i]));
        kwrite_raw(&b, as[i], strlen(as[i]));
    }
    request(fd, 14, 3, corr, false, &b);
    kwrite_free(&b);
}

/* The SyncGroup reply: its error, the assignment in as. */
static int16_t
sync_recv(int fd, int32_t corr, char *as, size_t cap)
{
    kread rd;
    uint8_t *rep = answer(fd, corr, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    int16_t err = kread_i16(&rd);
    kstr_copy(as, cap, kread_bytes(&rd, false));
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return err;
}

/* Send body b (freed) as request key v corr, read the reply into rd
 * past its throttle time (0); the reply's buffer, for free(). */
static uint8_t *
exchange(int fd, int16_t key, int16_t v, int32_t corr, kwrite *b, kread *rd)
{
    uint8_t *rep = ask(fd, key, v, corr, false, b, rd);
    ck_assert_int_eq(kread_i32(rd), 0);
    return rep;
}

/* Heartbeat v3 or LeaveGroup v0..2 (key 12 / 13): the error. */
static int16_t
member_call(int fd, int16_t key, int32_t generation, const char *member)
{
    kwrite b = {0};
    kwrite_strz(&b, false, "g");
    if (key == 12)
        kwrite_i32(&b, generation);
    kwrite_strz(&b, false, member);
    if (key == 12)
        kwrite_strz(&b, false, NULL);
    kread rd;
    uint8_t *rep = exchange(fd, key, key == 12 ? 3 : 1, 500, &b, &rd);
    int16_t err = kread_i16(&rd);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return err;
}

static int16_t
heartbeat(int fd, int32_t generation, const char *member)
{
    return member_call(fd, 12, generation, member);
}

/* The head of a DescribeGroups entry: no error, the group's name, state,
 * protocol type and protocol. */
static void
described(kread *rd, const char *name, const char *state, const char *ptype,
          const char *proto)
{
    ck_assert_int_eq(kread_i16(rd), 0);
    ck_assert(kstr_eq(kread_str(rd, false), name));
    ck_assert(kstr_eq(kread_str(rd, false), state));
    ck_assert(kstr_eq(kread_str(rd, false), ptype));
    ck_assert(kstr_eq(kread_str(rd, false), proto));
}

/* Two members join, the leader's assignment reaches both through
 * SyncGroup, heartbeats say when to rejoin, commits are checked against
 * the generation, the group is described and listed, one leaves. */
START_TEST(test_group_join_sync)
{
    lrig r;
    lrig_open(&r, NULL);
    test_produce_gen(r.s, "t", 0, 0, 8);
    int fa = dial(&r), fb = dial(&r);
    char a[96], b[96], as[32];
    join_new(fa, 10000, "ma", a);
    joined ja = join_recv(fa, 5, 2); /* alone: the join completes at once */
    ck_assert_int_eq(ja.err, 0);
    ck_assert_int_eq(ja.generation, 1);
    ck_assert_str_eq(ja.protocol, "range");
    ck_assert_str_eq(ja.leader, a);
    ck_assert_str_eq(ja.member, a);
    ck_assert_int_eq(ja.nmembers, 1);
    ck_assert_str_eq(ja.ids[0], a);
    ck_assert_str_eq(ja.metas[0], "ma");
    const char *ids1[] = {a};
    const char *as1[] = {"xa"};
    sync_send(fa, 3, 1, a, 1, ids1, as1);
    ck_assert_int_eq(sync_recv(fa, 3, as, sizeof as), 0);
    ck_assert_str_eq(as, "xa");
    ck_assert_int_eq(heartbeat(fa, 1, a), 0);
    ck_assert_int_eq(commit_as(fa, 1, a, 0, 2), 0);
    ck_assert_int_eq(commit_raw(fa, 0, 3), 25); /* the group has members */

    /* b joins: its join waits for a's; a hears REBALANCE_IN_PROGRESS and
     * may still commit in its generation before it rejoins. */
    join_new(fb, 10000, "mb", b);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(heartbeat(fa, 1, a), 27);
    ck_assert_int_eq(commit_as(fa, 1, a, 0, 4), 0);
    join_send(fa, 5, 4, a, 10000, "ma2");
    ja = join_recv(fa, 5, 4);
    joined jb = join_recv(fb, 5, 2);
    ck_assert_int_eq(ja.err, 0);
    ck_assert_int_eq(jb.err, 0);
    ck_assert_int_eq(ja.generation, 2);
    ck_assert_int_eq(jb.generation, 2);
    ck_assert_str_eq(jb.leader, a);
    ck_assert_str_eq(jb.member, b);
    ck_assert_int_eq(jb.nmembers, 0); /* only the leader gets them */
    ck_assert_int_eq(ja.nmembers, 2);
    ck_assert_str_eq(ja.ids[0], a);
    ck_assert_str_eq(ja.metas[0], "ma2");
    ck_assert_str_eq(ja.ids[1], b);
    ck_assert_str_eq(ja.metas[1], "mb");
    /* Between the join and the sync: commits wait for the assignment. */
    ck_assert_int_eq(commit_as(fa, 1, a, 0, 5), 22); /* ILLEGAL_GENERATION */
    ck_assert_int_eq(commit_as(fa, 2, a, 0, 5), 27); /* REBALANCE_IN_PROGRESS */
    ck_assert_int_eq(commit_as(fa, 2, "x", 0, 5), 25); /* UNKNOWN_MEMBER_ID */
    ck_assert_int_eq(heartbeat(fb, 2, b), 0);
    /* b's sync waits for the leader's, which hands out both. */
    sync_send(fb, 5, 2, b, 0, NULL, NULL);
    const char *ids2[] = {b, a};
    const char *as2[] = {"xb2", "xa2"};
    sync_send(fa, 6, 2, a, 2, ids2, as2);
    ck_assert_int_eq(sync_recv(fa, 6, as, sizeof as), 0);
    ck_assert_str_eq(as, "xa2");
    ck_assert_int_eq(sync_recv(fb, 5, as, sizeof as), 0);
    ck_assert_str_eq(as, "xb2");
    ck_assert_int_eq(commit_as(fb, 2, b, 0, 6), 0);
    ck_assert_int_eq(committed_raw(fa, 0), 6);
    ck_assert_int_eq(commit_as(fa, 1, a, 0, 7), 22);
    ck_assert_int_eq(committed_raw(fa, 0), 6);
    /* A sync again in the Stable group: the same assignment. */
    sync_send(fb, 7, 2, b, 0, NULL, NULL);
    ck_assert_int_eq(sync_recv(fb, 7, as, sizeof as), 0);
    ck_assert_str_eq(as, "xb2");

    /* DescribeGroups v4 and ListGroups v2 show it. */
    kwrite q = {0};
    kwrite_array(&q, false, 2);
    kwrite_strz(&q, false, "g");
    kwrite_strz(&q, false, "nope");
    kwrite_i8(&q, 0);
    kread rd;
    uint8_t *rep = exchange(fa, 15, 4, 8, &q, &rd);
    ck_assert_int_eq(kread_array(&rd, false, 6), 2);
    described(&rd, "g", "Stable", "consumer", "range");
    ck_assert_int_eq(kread_array(&rd, false, 6), 2);
    const char *want_id[] = {a, b}, *want_meta[] = {"ma2", "mb"},
               *want_as[] = {"xa2", "xb2"};
    for (int i = 0; i < 2; i++) {
        ck_assert(kstr_eq(kread_str(&rd, false), want_id[i]));
        ck_assert_ptr_null(kread_str(&rd, false).p);
        ck_assert(kstr_eq(kread_str(&rd, false), "check"));
        ck_assert(kstr_eq(kread_str(&rd, false), "127.0.0.1"));
        kstr meta = kread_bytes(&rd, false), asg = kread_bytes(&rd, false);
        ck_assert(meta.len == strlen(want_meta[i]) &&
                  memcmp(meta.p, want_meta[i], meta.len) == 0);
        ck_assert(asg.len == strlen(want_as[i]) &&
                  memcmp(asg.p, want_as[i], asg.len) == 0);
    }
    ck_assert_int_eq(kread_i32(&rd), INT32_MIN);
    described(&rd, "nope", "Dead", "", "");
    ck_assert_int_eq(kread_array(&rd, false, 6), 0);
    ck_assert_int_eq(kread_i32(&rd), INT32_MIN);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    rep = exchange(fa, 16, 2, 9, &(kwrite){0}, &rd);
    ck_assert_int_eq(kread_i16(&rd), 0);
    ck_assert_int_eq(kread_array(&rd, false, 4), 1);
    ck_assert(kstr_eq(kread_str(&rd, false), "g"));
    ck_assert(kstr_eq(kread_str(&rd, false), "consumer"));
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);

    /* b leaves: a rejoins alone, generation 3. */
    ck_assert_int_eq(member_call(fb, 13, 0, b), 0);
    ck_assert_int_eq(member_call(fb, 13, 0, b), 25);
    ck_assert_int_eq(heartbeat(fa, 2, a), 27);
    join_send(fa, 5, 10, a, 10000, "ma2");
    ja = join_recv(fa, 5, 10);
    ck_assert_int_eq(ja.err, 0);
    ck_assert_int_eq(ja.generation, 3);
    ck_assert_int_eq(ja.nmembers, 1);
    ck_assert_int_eq(heartbeat(fb, 3, b), 25);
    /* An id the group never gave: refused, the group unchanged. */
    join_send(fb, 5, 11, "nobody", 10000, "mb");
    joined jn = join_recv(fb, 5, 11);
    ck_assert_int_eq(jn.err, 25);
    ck_assert_int_eq(jn.generation, -1);
    ck_assert_str_eq(jn.member, "nobody");
    ck_assert_int_eq(heartbeat(fa, 3, a), 0);
    close(fa);
    close(fb);
    lrig_close(&r);
}
END_TEST

/* A member not heard from for its session timeout is removed: the
 * rebalance it holds up completes without it.  A parked join whose
 * connection closes is freed (its member stays).  A name with members
 * in this process cannot be joined. */
START_TEST(test_group_session_expiry)
{
    lrig r;
    lrig_open(&r, NULL);
    int fa = dial(&r), fb = dial(&r), fc = dial(&r);
    char a[96];
    join_new(fa, 300, "ma", a);
    ck_assert_int_eq(join_recv(fa, 5, 2).generation, 1);
    /* b joins with v0 (no MEMBER_ID_REQUIRED); a never rejoins. */
    int64_t t0 = samsa__now_ns();
    join_send(fb, 0, 3, "", 10000, "mb");
    joined jb = join_recv(fb, 0, 3);
    int64_t waited = samsa__now_ns() - t0;
    ck_assert_int_ge(waited, 200 * 1000000LL);  /* a's session, less a's age */
    ck_assert_int_lt(waited, 4000 * 1000000LL); /* not the 5 s rebalance */
    ck_assert_int_eq(jb.err, 0);
    ck_assert_int_eq(jb.generation, 2);
    ck_assert_str_eq(jb.leader, jb.member);
    ck_assert_int_eq(jb.nmembers, 1);
    ck_assert_str_eq(jb.ids[0], jb.member);
    ck_assert_int_eq(heartbeat(fa, 1, a), 25);
    ck_assert_int_eq(commit_as(fa, 1, a, 0, 1), 25);
    /* c's join parks (b must rejoin); c's connection closes under it. */
    char c[96];
    join_new(fc, 10000, "mc", c);
    /* Once b hears of the rebalance, c's join is parked (the listener
     * does not answer what a closed connection sent last). */
    int tries = 0;
    while (heartbeat(fb, 2, jb.member) != 27 && ++tries < 1000)
        usleep(1000);
    ck_assert_int_lt(tries, 1000);
    close(fc);
    join_send(fb, 0, 4, jb.member, 10000, "mb");
    jb = join_recv(fb, 0, 4);
    ck_assert_int_eq(jb.generation, 3);
    ck_assert_int_eq(jb.nmembers, 2); /* c is still a member */
    ck_assert_str_eq(jb.ids[1], c);
    /* The store's own consumer group of another name is in the way of
     * nothing; one of this name refuses the join. */
    const char *topics[] = {"t", NULL};
    samsa_consumer_config cc = {.group = "g", .topics = topics};
    samsa_consumer *ic;
    ck_assert_int_eq(samsa_consumer_open(r.s, &cc, &ic), 0);
    join_send(fa, 5, 5, "", 10000, "ma");
    ck_assert_int_eq(join_recv(fa, 5, 5).err, 23);
    ck_assert_int_eq(samsa_consumer_close(ic), 0);
    /* A name the store cannot keep offsets for: INVALID_GROUP_ID. */
    kwrite q = {0};
    kwrite_strz(&q, false, "a b");
    kwrite_i32(&q, 10000);
    kwrite_strz(&q, false, "");
    kwrite_strz(&q, false, "consumer");
    kwrite_array(&q, false, 1);
    kwrite_strz(&q, false, "range");
    kwrite_bytes_len(&q, false, 0);
    request(fa, 11, 0, 6, false, &q);
    kwrite_free(&q);
    ck_assert_int_eq(join_recv(fa, 0, 6).err, 24);
    close(fa);
    close(fb);
    lrig_close(&r);
}
END_TEST

/* A member that heartbeats but does not rejoin holds the rebalance up
 * only until the rebalance timeout, then is out. */
START_TEST(test_group_rebalance_timeout)
{
    lrig r;
    lrig_open(&r, NULL);
    int fa = dial(&r), fb = dial(&r);
    char a[96], b[96];
    join_rebalance_ms = 300;
    join_new(fa, 10000, "ma", a);
    ck_assert_int_eq(join_recv(fa, 5, 2).generation, 1);
    int64_t t0 = samsa__now_ns();
    join_new(fb, 10000, "mb", b);
    /* a keeps its session alive, and is told to rejoin, but does not. */
    int16_t err;
    while ((err = heartbeat(fa, 1, a)) == 27 &&
           samsa__now_ns() - t0 < 5000 * 1000000LL)
        usleep(20000);
    ck_assert_int_eq(err, 25); /* removed at the rebalance timeout */
    joined jb = join_recv(fb, 5, 2);
    int64_t waited = samsa__now_ns() - t0;
    ck_assert_int_ge(waited, 300 * 1000000LL);
    ck_assert_int_eq(jb.err, 0);
    ck_assert_int_eq(jb.generation, 2);
    ck_assert_str_eq(jb.leader, b);
    ck_assert_int_eq(jb.nmembers, 1);
    ck_assert_str_eq(jb.ids[0], b);
    join_rebalance_ms = 5000;
    close(fa);
    close(fb);
    lrig_close(&r);
}
END_TEST

/* CreateTopics v4 of topic name with parts partitions (and, unless
 * NULL, cleanup.policy=policy): its error. */
static int16_t
create_cfg(int fd, const char *name, int32_t parts, const char *policy)
{
    kwrite b = {0};
    kwrite_array(&b, false, 1);
    kwrite_strz(&b, false, name);
    kwrite_i32(&b, parts);
    kwrite_i16(&b, -1);
    kwrite_array(&b, false, 0);
    kwrite_array(&b, false, policy != NULL);
    if (policy != NULL) {
        kwrite_strz(&b, false, "cleanup.policy");
        kwrite_strz(&b, false, policy);
    }
    kwrite_i32(&b, 1000);
    kwrite_i8(&b, 0);
    kread rd;
    uint8_t *rep = ask(fd, 19, 4, 400, false, &b, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0);
    ck_assert_int_eq(kread_array(&rd, false, 6), 1);
    ck_assert(kstr_eq(kread_str(&rd, false), name));
    int16_t err = kread_i16(&rd);
    ck_assert_ptr_null(kread_str(&rd, false).p);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    return err;
}

static int16_t
create_raw(int fd, const char *name, int32_t parts)
{
    return create_cfg(fd, name, parts, NULL);
}

/* cleanup.policy: Kafka's three values make topics of samsa's policies;
 * another is INVALID_CONFIG (40), and no topic. */
START_TEST(test_create_policy)
{
    static const char *const names[] = {"delete", "compact", "compact,delete"};
    static const int32_t policies[] = {SAMSA_CLEANUP_DELETE,
                                       SAMSA_CLEANUP_COMPACT,
                                       SAMSA_CLEANUP_COMPACT_DELETE};
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    samsa_topic_config tc;
    for (int i = 0; i < 3; i++) {
        char t[16];
        snprintf(t, sizeof t, "p%d", i);
        ck_assert_int_eq(create_cfg(fd, t, 1, names[i]), 0);
        ck_assert_int_eq(samsa_topic_describe(r.s, t, &tc), 0);
        ck_assert_int_eq(tc.cleanup_policy, policies[i]);
    }
    ck_assert_int_eq(create_cfg(fd, "bad", 1, "shred"), 40);
    ck_assert_int_eq(samsa_topic_describe(r.s, "bad", &tc), SAMSA_ENOTOPIC);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* A batch with a keyless record for a compacted topic is refused with
 * INVALID_RECORD (87), as Kafka refuses it, and nothing is stored. */
START_TEST(test_produce_compacted)
{
    samsa_topic_config tc = {.partitions = 2,
                             .cleanup_policy = SAMSA_CLEANUP_COMPACT};
    lrig r;
    lrig_open_topic(&r, NULL, &tc);
    int fd = dial(&r);
    size_t len;
    int64_t base = -5;
    uint8_t *b = gen_batch(0, 4, &len); /* record 0 has no key */
    ck_assert_int_eq(produce_raw(fd, 1, -1, b, len, &base), 87);
    free(b);
    b = gen_batch(1, 5, &len); /* every one keyed */
    ck_assert_int_eq(produce_raw(fd, 1, -1, b, len, &base), 0);
    ck_assert_int_eq(base, 0);
    free(b);
    int64_t first, end;
    ck_assert_int_eq(samsa_offsets(r.s, "t", 1, &first, &end), 0);
    ck_assert_int_eq(end, 5);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* A client cannot make a topic of more partitions than max_partitions
 * (found by fuzz_kafka: 31,234 partitions spent every mapping the
 * process had); at the bound it can. */
START_TEST(test_create_bounded)
{
    samsa_listener_config cfg = {.max_partitions = 8};
    lrig r;
    lrig_open(&r, &cfg);
    int fd = dial(&r);
    ck_assert_int_eq(create_raw(fd, "big", 31234), 37);
    ck_assert_int_eq(create_raw(fd, "big", 9), 37);
    samsa_topic_config tc;
    ck_assert_int_eq(samsa_topic_describe(r.s, "big", &tc), SAMSA_ENOTOPIC);
    ck_assert_int_eq(create_raw(fd, "big", 8), 0);
    ck_assert_int_eq(samsa_topic_describe(r.s, "big", &tc), 0);
    ck_assert_int_eq(tc.partitions, 8);
    ck_assert_int_eq(create_raw(fd, "big", 8), 36); /* exists */
    close(fd);
    lrig_close(&r);
}
END_TEST

/* The store closed while clients are connected, one with a fetch waiting
 * and one that just produced: samsa_close() stops the listener (the
 * clients see their connections close), the store is whole when opened
 * again, and samsa_listener_close() afterwards only frees. */
START_TEST(test_store_closed_under_clients)
{
    lrig r;
    lrig_open(&r, NULL);
    int waiting = dial(&r), producing = dial(&r);
    fetch5(waiting, 5, 600000, 1 << 20);
    size_t len;
    uint8_t *b = gen_batch(0, 8, &len);
    int64_t base;
    ck_assert_int_eq(produce_raw(producing, 1, -1, b, len, &base), 0);
    free(b);
    usleep(20000);
    ck_assert_int_eq(samsa_close(r.s), 0);
    ck_assert(closed_by_peer(producing));
    /* The fetch waits on partition 0, which got nothing: no answer,
     * the connection just closes. */
    ck_assert(closed_by_peer(waiting));
    close(waiting);
    close(producing);
    ck_assert_int_eq(samsa_listener_close(r.l), 0);
    r.s = test_open(r.dir);
    test_read_range(r.s, "t", 1, 0, 8);
    ck_assert_int_eq(samsa_close(r.s), 0);
    test_dir_remove(r.dir);
}
END_TEST

/* A client gone in the middle of a request, and a flood of connections
 * past the bound: the ones over it are closed at once, and the store and
 * a connection that was there carry on. */
START_TEST(test_connection_faults)
{
    samsa_listener_config cfg = {.max_connections = 32};
    lrig r;
    lrig_open(&r, &cfg);
    int good = dial(&r);
    static const uint8_t half[] = {0, 0, 0, 40, 0, 3, 0, 1, 0, 0};
    for (int i = 0; i < 10; i++) { /* half a request, then gone */
        int fd = dial(&r);
        send_all(fd, half, sizeof half);
        close(fd);
    }
    usleep(200000); /* the listener, idle, has freed those */
    int fds[300], open_ = 0, refused = 0;
    for (int i = 0; i < 300; i++)
        fds[i] = dial(&r);
    usleep(200000);
    for (int i = 0; i < 300; i++) { /* closed at once, or still open */
        struct timeval tv = {0, 20000};
        (void)setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t byte;
        if (recv(fds[i], &byte, 1, 0) == 0)
            refused++;
        else
            open_++;
        close(fds[i]);
    }
    ck_assert_int_eq(open_, 31); /* 32 with the good one */
    ck_assert_int_eq(refused, 300 - 31);
    int16_t err;
    int64_t hw, first;
    test_produce_gen(r.s, "t", 0, 0, 4);
    ck_assert_int_eq(fetch_raw(good, 0, 0, 0, &err, &hw, &first), 4);
    ck_assert_int_eq(err, 0);
    close(good);
    lrig_close(&r);
}
END_TEST

/* 1,000 clients at once (issue 16's figure): every one connects and is
 * answered, pipelined (all requests sent before any reply is read); one
 * more than max_connections is closed at once; the store and the first
 * client carry on. */
START_TEST(test_thousand_connections)
{
    enum { MOST = 1000 };
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    /* Both ends of each connection, and the store's: a machine whose
     * hard limit is lower gets as many as it allows, and says so. */
    int N = MOST;
    if (rl.rlim_max < 2 * (rlim_t)MOST + 64) {
        N = (int)((rl.rlim_max - 64) / 2);
        fprintf(stderr,
                "test_thousand_connections: %d connections (hard "
                "limit %llu descriptors)\n",
                N, (unsigned long long)rl.rlim_max);
        ck_assert_int_ge(N, 100);
    }
    rlim_t want = 2 * (rlim_t)N + 64;
    if (rl.rlim_cur < want) {
        struct rlimit up = {want, rl.rlim_max};
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &up), 0);
    }
    samsa_listener_config cfg = {.max_connections = N};
    lrig r;
    lrig_open(&r, &cfg);
    static int fds[MOST];
    for (int i = 0; i < N; i++)
        fds[i] = dial(&r);
    kwrite b = {0};
    kwrite_strz(&b, true, "check");
    kwrite_strz(&b, true, "1");
    kwrite_tags(&b, true);
    for (int i = 0; i < N; i++)
        request(fds[i], 18, 3, i, true, &b);
    for (int i = 0; i < N; i++) {
        uint8_t *rep;
        size_t len;
        ck_assert_msg(reply(fds[i], i, &rep, &len), "connection %d closed", i);
        ck_assert_int_eq((int16_t)(rep[0] << 8 | rep[1]), 0);
        free(rep);
    }
    int extra = dial(&r); /* one past the limit */
    ck_assert(closed_by_peer(extra));
    close(extra);
    test_produce_gen(r.s, "t", 0, 0, 3);
    int16_t err;
    int64_t hw, first;
    ck_assert_int_eq(fetch_raw(fds[0], 0, 0, 0, &err, &hw, &first), 3);
    ck_assert_int_eq(err, 0);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    kwrite_free(&b);
    lrig_close(&r);
    if (rl.rlim_cur < want)
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}
END_TEST

/* The process out of descriptors: a connection the listener cannot take
 * is taken with its spare descriptor and closed at once (without it, the
 * loop would spin on the listening socket and the client wait for ever);
 * with descriptors back, connections are served again. */
START_TEST(test_accept_out_of_fds)
{
    lrig r;
    lrig_open(&r, NULL);
    struct rlimit old, tight;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0); /* every number below is taken */
    ck_assert_int_ge(lowest, 0);
    close(lowest);
    tight = old;
    tight.rlim_cur = (rlim_t)lowest + 1; /* the client's socket, no more */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &tight), 0);
    int fd = dial(&r);
    struct timeval tv = {5, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t byte;
    ck_assert_int_eq(recv(fd, &byte, 1, 0), 0); /* closed, not hung */
    close(fd);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    fd = dial(&r);
    int16_t err;
    int64_t hw, first;
    ck_assert_int_eq(fetch_raw(fd, 0, 0, 0, &err, &hw, &first), 0);
    ck_assert_int_eq(err, 0);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* ---- hostile input ------------------------------------------------------ */

START_TEST(test_hostile_frames)
{
    samsa_listener_config cfg = {.max_request_bytes = 4096,
                                 .max_connections = 3};
    lrig r;
    lrig_open(&r, &cfg);
    int good = dial(&r);
    /* A negative size, a size past the bound, a Metadata cut short, an
     * array count no frame can hold: each closes its own connection. */
    static const uint8_t neg[] = {0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0};
    static const uint8_t big[] = {0, 0, 0x10, 0x01, 0, 3, 0, 0};
    static const uint8_t cut[] = {0, 0, 0, 12, 0, 3, 0, 1,
                                  0, 0, 0, 5,  0, 0, 0, 0};
    static const uint8_t huge[] = {0, 0, 0, 16, 0,    3,    0,    1,    0, 0,
                                   0, 5, 0, 0,  0x7f, 0xff, 0xff, 0xff, 0, 0};
    static const uint8_t two_gb[] = {0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0};
    const struct {
        const uint8_t *p;
        size_t n;
    } bad[] = {{neg, sizeof neg},
               {big, sizeof big},
               {cut, sizeof cut},
               {huge, sizeof huge},
               {two_gb, sizeof two_gb}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = dial(&r);
        send_all(fd, bad[i].p, bad[i].n);
        ck_assert_msg(closed_by_peer(fd), "frame %zu", i);
        close(fd);
    }
    /* The bound on connections: the fourth is closed at once. */
    int c2 = dial(&r), c3 = dial(&r), c4 = dial(&r);
    ck_assert(closed_by_peer(c4));
    close(c4);
    close(c3);
    close(c2);
    /* The first connection never noticed; nothing was stored. */
    int16_t err;
    int64_t hw, first;
    ck_assert_int_eq(fetch_raw(good, 0, 0, 0, &err, &hw, &first), 0);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(hw, 0);
    close(good);
    lrig_close(&r);
}
END_TEST

/* ---- Produce with copies ------------------------------------------------- */

/* A listener over a store whose topic "t" (2 partitions) has three
 * copies (root/d0, d1, d2) written through fi, min_insync 2; the
 * copies' repair paused, so that a copy failed stays out until
 * samsa_replica_catchup(). */
static void
lrig_open_copies(lrig *r, faultio *fi, char d[3][TEST_PATH_BUF])
{
    r->dir = test_dir_make();
    for (int i = 0; i < 3; i++) {
        char name[4] = {'d', (char)('0' + i), '\0'};
        test_pathf(d[i], r->dir, name);
        ck_assert_int_eq(mkdir(d[i], 0755), 0);
    }
    const char *reps[] = {d[1], d[2], NULL};
    samsa_options o = {.replica_dirs = reps, .flags = SAMSA_OPEN_CREATE};
    E(samsa__open_io(d[0], &o, faultio_io(fi), &r->s));
    samsa__replica_pause(r->s, true);
    samsa_topic_config c = {.partitions = 2, .replicas = 3, .min_insync = 2};
    E(samsa_topic_create(r->s, "t", &c));
    E(samsa_listener_open(r->s, NULL, &r->l));
}

/* The next write to a file under copy dir fails: that copy leaves. */
static void
copy_fails(faultio *fi, const char *dir)
{
    faultio_filter(fi, dir);
    faultio_fail(fi, FAULTIO_WRITE, 1, EIO, false);
}

/* A produce stored on the leader whose copies fell below min_insync
 * during the append is Kafka's NOT_ENOUGH_REPLICAS_AFTER_APPEND (20),
 * with the offsets it got: the records are stored.  It was answered
 * NOT_ENOUGH_REPLICAS (19, "nothing stored") with no offset; and an
 * idempotent batch so stored was not recorded in its producer's state,
 * so the client's retry, once the copies were back, stored it twice. */
START_TEST(test_produce_after_append)
{
    lrig r;
    char d[3][TEST_PATH_BUF];
    faultio *fi = faultio_new();
    lrig_open_copies(&r, fi, d);
    int fd = dial(&r);
    int64_t base;
    size_t len;
    uint8_t *b = gen_batch(0, 3, &len);
    ck_assert_int_eq(produce_raw(fd, 0, -1, b, len, &base), 0);
    ck_assert_int_eq(base, 0);
    free(b);
    copy_fails(fi, "/d1/"); /* two copies left: enough */
    b = gen_batch(3, 2, &len);
    ck_assert_int_eq(produce_raw(fd, 0, -1, b, len, &base), 0);
    ck_assert_int_eq(base, 3);
    free(b);
    copy_fails(fi, "/d2/"); /* one left, found during the append */
    b = gen_batch(5, 2, &len);
    ck_assert_int_eq(produce_raw(fd, 0, -1, b, len, &base), 20);
    ck_assert_int_eq(base, 5);
    free(b);
    test_read_range(r.s, "t", 0, 0, 7);
    /* Now found before: nothing stored. */
    b = gen_batch(7, 1, &len);
    ck_assert_int_eq(produce_raw(fd, 0, -1, b, len, &base), 19);
    ck_assert_int_eq(base, -1);
    free(b);

    /* The same for an idempotent producer on partition 1. */
    int16_t err;
    int64_t pid = init_pid(fd, NULL, &err);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(produce_idem(fd, 1, 0, 2, pid, 0, 0, &base), 0);
    ck_assert_int_eq(base, 0);
    copy_fails(fi, "/d1/");
    ck_assert_int_eq(produce_idem(fd, 1, 2, 1, pid, 0, 2, &base), 0);
    ck_assert_int_eq(base, 2);
    copy_fails(fi, "/d2/");
    ck_assert_int_eq(produce_idem(fd, 1, 3, 2, pid, 0, 3, &base), 20);
    ck_assert_int_eq(base, 3);
    test_read_range(r.s, "t", 1, 0, 5);
    /* The copies come back; the client's retry of that batch is a
     * duplicate (its first offset again), not stored a second time. */
    faultio_clear(fi);
    faultio_filter(fi, NULL);
    size_t rejoined;
    E(samsa_replica_catchup(r.s, &rejoined));
    ck_assert_uint_eq(rejoined, 4);
    ck_assert_int_eq(produce_idem(fd, 1, 3, 2, pid, 0, 3, &base), 0);
    ck_assert_int_eq(base, 3);
    ck_assert_int_eq(produce_idem(fd, 1, 5, 1, pid, 0, 5, &base), 0);
    ck_assert_int_eq(base, 5);
    test_read_range(r.s, "t", 1, 0, 6);
    test_read_range(r.s, "t", 0, 0, 7);
    close(fd);
    lrig_close(&r);
    faultio_free(fi);
}
END_TEST

/* ---- Request shapes that cost the listener more than their size ------- */

/* Metadata v8 naming "t" (2 partitions) 20,000 times and "nope" twice:
 * each topic is answered once, in the order first named, as Kafka (a set
 * of topics).  Answered per name, the reply grew with the names times the
 * partitions: 10,000 names of a 1024-partition topic, a 50 KB request,
 * made a 348 MB reply. */
START_TEST(test_metadata_repeated_names)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    kwrite b = {0};
    kwrite_array(&b, false, 20003);
    kwrite_strz(&b, false, "nope");
    for (int i = 0; i < 20000; i++)
        kwrite_strz(&b, false, i == 1 ? "" : "t");
    kwrite_strz(&b, false, "t");
    kwrite_strz(&b, false, "nope");
    kwrite_i8(&b, 0); /* allow_auto_topic_creation */
    kwrite_i8(&b, 0); /* include cluster, topic authorized operations */
    kwrite_i8(&b, 0);
    kread rd;
    uint8_t *rep = ask(fd, KAPI_METADATA, 8, 9, false, &b, &rd);
    ck_assert_int_eq(kread_i32(&rd), 0); /* throttle */
    ck_assert_int_eq(kread_array(&rd, false, 10), 1);
    ck_assert_int_eq(kread_i32(&rd), 0);
    ck_assert(kstr_eq(kread_str(&rd, false), "127.0.0.1"));
    ck_assert_int_eq(kread_i32(&rd), samsa_listener_port(r.l));
    ck_assert_ptr_null(kread_str(&rd, false).p); /* rack */
    ck_assert(kstr_eq(kread_str(&rd, false), "samsa"));
    ck_assert_int_eq(kread_i32(&rd), 0); /* controller */
    ck_assert_int_eq(kread_array(&rd, false, 8), 3);
    static const char *const names[3] = {"nope", "t", ""};
    static const int16_t errs[3] = {3, 0, -1}; /* "": no name (UNKNOWN) */
    for (int t = 0; t < 3; t++) {
        bool known = t == 1;
        ck_assert_int_eq(kread_i16(&rd), errs[t]);
        ck_assert(kstr_eq(kread_str(&rd, false), names[t]));
        ck_assert_int_eq(kread_i8(&rd), 0);
        int32_t np = kread_array(&rd, false, 4);
        ck_assert_int_eq(np, (known ? 2 : 0));
        for (int32_t p = 0; p < np; p++) {
            ck_assert_int_eq(kread_i16(&rd), 0);
            ck_assert_int_eq(kread_i32(&rd), p);
            ck_assert_int_eq(kread_i32(&rd), 0);  /* leader */
            ck_assert_int_eq(kread_i32(&rd), -1); /* leader epoch */
            for (int k = 0; k < 2; k++) {         /* replicas, isr */
                ck_assert_int_eq(kread_array(&rd, false, 4), 1);
                ck_assert_int_eq(kread_i32(&rd), 0);
            }
            ck_assert_int_eq(kread_array(&rd, false, 4), 0); /* offline */
        }
        ck_assert_int_eq(kread_i32(&rd), INT32_MIN);
    }
    ck_assert_int_eq(kread_i32(&rd), INT32_MIN);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* DescribeGroups v4 naming a stable group 10,000 times: the group (its
 * member's 20 KB assignment) is answered once, and "nope" once.  Answered
 * per name, a 30 KB request made a 200 MB reply. */
START_TEST(test_describe_groups_repeated)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    enum { BLOB = 20000, NAMES = 10000 };
    char *asg = malloc(BLOB + 1), id[96];
    memset(asg, 'x', BLOB);
    asg[BLOB] = '\0';
    join_new(fd, 10000, "ma", id);
    ck_assert_int_eq(join_recv(fd, 5, 2).err, 0);
    const char *ids[] = {id}, *as[] = {asg};
    sync_send(fd, 3, 1, id, 1, ids, as);
    char *got = malloc(BLOB + 1);
    ck_assert_int_eq(sync_recv(fd, 3, got, BLOB + 1), 0);
    ck_assert_str_eq(got, asg);
    free(got);
    kwrite q = {0};
    kwrite_array(&q, false, NAMES + 2);
    kwrite_strz(&q, false, "nope");
    for (int i = 0; i < NAMES; i++)
        kwrite_strz(&q, false, "g");
    kwrite_strz(&q, false, "nope");
    kwrite_i8(&q, 0);
    kread rd;
    uint8_t *rep = exchange(fd, 15, 4, 8, &q, &rd);
    ck_assert_int_eq(kread_array(&rd, false, 6), 2);
    described(&rd, "nope", "Dead", "", "");
    ck_assert_int_eq(kread_array(&rd, false, 6), 0);
    ck_assert_int_eq(kread_i32(&rd), INT32_MIN);
    described(&rd, "g", "Stable", "consumer", "range");
    ck_assert_int_eq(kread_array(&rd, false, 6), 1);
    ck_assert(kstr_eq(kread_str(&rd, false), id));
    ck_assert_ptr_null(kread_str(&rd, false).p);
    ck_assert(kstr_eq(kread_str(&rd, false), "check"));
    ck_assert(kstr_eq(kread_str(&rd, false), "127.0.0.1"));
    kstr m = kread_bytes(&rd, false), a = kread_bytes(&rd, false);
    ck_assert(m.len == 2 && memcmp(m.p, "ma", 2) == 0);
    ck_assert(a.len == BLOB && memcmp(a.p, asg, BLOB) == 0);
    ck_assert_int_eq(kread_i32(&rd), INT32_MIN);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    free(asg);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* A batch of one record (key "k", a value of vlen zero bytes),
 * compressed with zstd: a few KB that inflate to vlen. */
static uint8_t *
zero_batch(size_t vlen, size_t *len)
{
    uint8_t *v = calloc(1, vlen);
    samsa_record rec = {.key = "k",
                        .key_len = 1,
                        .value = v,
                        .value_len = vlen,
                        .timestamp = 1};
    samsa_record *rp = &rec;
    size_t body, plain = batch_encoded_size(&rp, 1, &body);
    uint8_t *b = malloc(plain);
    (void)batch_encode(b, &rp, 1, &body);
    uint8_t *z =
        malloc(BATCH_HEADER_SIZE +
               codec_bound(SAMSA_COMPRESSION_ZSTD, plain - BATCH_HEADER_SIZE));
    E(batch_compress(b, plain, SAMSA_COMPRESSION_ZSTD, 0, z, len));
    free(b);
    free(v);
    return z;
}

/* Group names are found by hash: every request names its group, and a
 * DescribeGroups a million.  Found by walking the list of groups with a
 * strlen() of each name, a lookup cost the length of every group's name:
 * with 4096 groups of 249-byte names, DescribeGroups of 10,000 other
 * names took 0.52 s on the loop's thread, 40,000 3.2 s, and the million
 * here a minute or more (0.76 s now); the read of its reply is bounded to
 * fail that hang.  Each name is answered exactly. */
START_TEST(test_describe_groups_many_groups)
{
    enum { GROUPS = 4096, NAMES = 1000000 };
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    char name[250];
    memset(name, 'g', 249);
    name[249] = '\0';
    for (int g = 0; g < GROUPS; g++) { /* v4: an id each, pending */
        snprintf(name + 241, 9, "%08x", (unsigned)g);
        kwrite b = {0};
        kwrite_strz(&b, false, name);
        kwrite_i32(&b, 1800000);
        kwrite_i32(&b, 1800000);
        kwrite_strz(&b, false, "");
        kwrite_strz(&b, false, "consumer");
        kwrite_array(&b, false, 1);
        kwrite_strz(&b, false, "range");
        kwrite_bytes_len(&b, false, 0);
        request(fd, 11, 4, g, false, &b);
        kwrite_free(&b);
    }
    for (int g = 0; g < GROUPS; g++) {
        kread rd;
        uint8_t *rep = answer(fd, g, &rd);
        ck_assert_int_eq(kread_i32(&rd), 0);
        ck_assert_int_eq(kread_i16(&rd), 79); /* MEMBER_ID_REQUIRED */
        free(rep);
    }
    kwrite q = {0};
    kwrite_array(&q, false, NAMES + 1);
    for (int i = 0; i < NAMES; i++) {
        char n[8];
        snprintf(n, sizeof n, "%06x", i);
        kwrite_strz(&q, false, n);
    }
    snprintf(name + 241, 9, "%08x", 7u);
    kwrite_strz(&q, false, name);
    struct timeval tv = {.tv_sec = 30};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv),
                     0);
    kread rd;
    uint8_t *rep = ask(fd, 15, 0, 8, false, &q, &rd);
    ck_assert_int_eq(kread_array(&rd, false, 6), NAMES + 1);
    /* Checked without an assertion each: Check reports every one. */
    int wrong = 0;
    for (int i = 0; i < NAMES; i++) {
        char n[8];
        snprintf(n, sizeof n, "%06x", i);
        wrong += kread_i16(&rd) != 0 || !kstr_eq(kread_str(&rd, false), n) ||
                 !kstr_eq(kread_str(&rd, false), "Dead") ||
                 kread_str(&rd, false).len != 0 ||
                 kread_str(&rd, false).len != 0 ||
                 kread_array(&rd, false, 6) != 0;
    }
    ck_assert_int_eq(wrong, 0);
    described(&rd, name, "Empty", "consumer", ""); /* a pending id only */
    ck_assert_int_eq(kread_array(&rd, false, 6), 0);
    ck_assert(!rd.bad && rd.p == rd.end);
    free(rep);
    close(fd);
    lrig_close(&r);
}
END_TEST

/* The len bytes at b twice over (malloc). */
static uint8_t *
twice(const uint8_t *b, size_t len)
{
    uint8_t *two = malloc(2 * len);
    memcpy(two, b, len);
    memcpy(two + len, b, len);
    return two;
}

/* One partition's records are decompressed at most 64 MB in all, not
 * each batch: every batch is held until the partition's records are
 * stored, and a 2 KB zstd batch inflates to 60 MB, so a 32 KB request of
 * 16 of them made the listener hold 960 MB.  Two batches of 40 MB each
 * are now refused at the second (CORRUPT_MESSAGE, as one batch past the
 * bound is), before it is inflated; one alone is still decompressed
 * whole (and then too large for the topic). */
START_TEST(test_produce_inflate_bound)
{
    lrig r;
    lrig_open(&r, NULL);
    int fd = dial(&r);
    size_t zl;
    uint8_t *z = zero_batch(40u << 20, &zl);
    ck_assert_uint_lt(zl, 64 << 10);
    uint8_t *two = twice(z, zl);
    int64_t base;
    ck_assert_int_eq(produce_raw(fd, 0, -1, two, 2 * zl, &base), 2);
    ck_assert_int_eq(base, -1);
    ck_assert_int_eq(produce_raw(fd, 0, -1, z, zl, &base), 10);
    ck_assert_int_eq(base, -1);
    free(z);
    free(two);
    /* Small compressed batches of a partition are stored together. */
    z = zero_batch(1000, &zl);
    two = twice(z, zl);
    ck_assert_int_eq(produce_raw(fd, 1, -1, two, 2 * zl, &base), 0);
    ck_assert_int_eq(base, 0);
    int64_t first, end;
    E(samsa_offsets(r.s, "t", 0, &first, &end));
    ck_assert_int_eq(end, 0);
    E(samsa_offsets(r.s, "t", 1, &first, &end));
    ck_assert_int_eq(end, 2);
    free(z);
    free(two);
    close(fd);
    lrig_close(&r);
}
END_TEST

START_TEST(test_listener_args)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_listener *l;
    samsa_listener_config bad_host = {.host = "not an address"};
    samsa_listener_config bad_port = {.port = 70000};
    samsa_listener_config bad_max = {.max_request_bytes = 10};
    samsa_listener_config bad_parts = {.max_partitions =
                                           SAMSA_MAX_PARTITIONS + 1};
    ck_assert_int_eq(samsa_listener_open(NULL, NULL, &l), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_listener_open(s, NULL, NULL), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_listener_open(s, &bad_host, &l), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_listener_open(s, &bad_port, &l), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_listener_open(s, &bad_max, &l), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_listener_open(s, &bad_parts, &l), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_listener_close(NULL), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_listener_port(NULL), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_close(s), 0);
    test_dir_remove(dir);
}
END_TEST

Suite *
listener_suite(void)
{
    Suite *s = suite_create("listener");
    TCase *tc = tcase_create("listener");
    tcase_add_test(tc, test_api_versions);
    tcase_add_test(tc, test_produce_fetch);
    tcase_add_test(tc, test_fetch_max_bytes);
    tcase_add_test(tc, test_produce_refuses_damage);
    tcase_add_test(tc, test_idempotent_produce);
    tcase_add_test(tc, test_idempotent_compacted);
    tcase_add_test(tc, test_describe_configs);
    tcase_add_test(tc, test_fetch_woken_by_produce);
    tcase_add_test(tc, test_close_with_parked_fetch);
    tcase_add_test(tc, test_fetch_from_mappings);
    tcase_add_test(tc, test_offsets_shared);
    tcase_add_test(tc, test_offset_fetch_many);
    tcase_add_test(tc, test_group_join_sync);
    tcase_add_test(tc, test_group_session_expiry);
    tcase_add_test(tc, test_group_rebalance_timeout);
    tcase_add_test(tc, test_create_bounded);
    tcase_add_test(tc, test_create_policy);
    tcase_add_test(tc, test_produce_compacted);
    tcase_add_test(tc, test_store_closed_under_clients);
    tcase_add_test(tc, test_connection_faults);
    tcase_add_test(tc, test_thousand_connections);
    tcase_add_test(tc, test_accept_out_of_fds);
    tcase_add_test(tc, test_hostile_frames);
    tcase_add_test(tc, test_metadata_repeated_names);
    tcase_add_test(tc, test_produce_after_append);
    tcase_add_test(tc, test_describe_groups_repeated);
    tcase_add_test(tc, test_produce_inflate_bound);
    tcase_add_test(tc, test_describe_groups_many_groups);
    tcase_add_test(tc, test_listener_args);
    tcase_add_test(tc, test_sasl_plain);
    tcase_add_test(tc, test_sasl_gate);
    tcase_add_test(tc, test_sasl_users_file);
    tcase_add_test(tc, test_sasl_many_users);
    suite_add_tcase(s, tc);
    return s;
}
