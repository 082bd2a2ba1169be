/*
 * ksasl.c - SASL/PLAIN authentication for the listener: the users file,
 * SaslHandshake (key 17) and SaslAuthenticate (key 36), and which requests
 * a connection may send before it has authenticated.
 *
 * The users file.  One `user:password` line per user (the password is
 * everything after the first colon, to the end of the line; a trailing CR
 * is dropped), lines starting with `#` are comments, empty lines are
 * skipped.  samsa_listener_open() reads it whole (at most KSASL_MAX_FILE
 * bytes) and refuses it (SAMSA_EINVAL) for a line with no colon, an empty
 * user or password, a NUL byte, a user named twice, or no user at all:
 * a mistake in the file never opens a listener that lets someone in, or
 * no one.  The bytes stay in memory for the listener's life (the names and
 * passwords point into them) and are wiped when it closes; nothing here
 * logs or echoes a password.
 *
 * The exchange (Kafka's SaslServerAuthenticator and PlainSaslServer, KIP-43
 * and KIP-152).  A connection starts in KAUTH_NONE: it may send ApiVersions
 * (any number) and SaslHandshake v1 naming a mechanism.  PLAIN, the only
 * one, moves it to KAUTH_MECH; any other name gets UNSUPPORTED_SASL_
 * MECHANISM with the list of enabled ones, then the connection closes.  In
 * KAUTH_MECH it sends SaslAuthenticate with RFC 4616's message, authzid
 * NUL authcid NUL passwd: right, and the connection is KAUTH_DONE and
 * serves everything; wrong, and SASL_AUTHENTICATION_FAILED with Kafka's own
 * message, then the connection closes.  Any other request before
 * KAUTH_DONE closes the connection without an answer (Kafka answers one in
 * the middle of the exchange with that request's error response, code
 * ILLEGAL_SASL_STATE, before it closes; clients never send one, and an
 * error body for every API is not worth having for them).  Once
 * authenticated, a SaslHandshake or SaslAuthenticate is answered
 * ILLEGAL_SASL_STATE and the connection stays, as Kafka's KafkaApis does
 * (no re-authentication, KIP-368: the session lifetime sent is 0, none).
 *
 * SaslHandshake v0 (KIP-43's first form) is served too: librdkafka sends
 * v1 and SaslAuthenticate, but it looks for v0 in ApiVersions' range
 * before it uses SASL at all (its RD_KAFKA_FEATURE_SASL_HANDSHAKE), so
 * the range must start at 0, and what is advertised is served.  After a
 * v0 handshake (KAUTH_RAW) the next frame is no Kafka request but the bare
 * PLAIN message, size-prefixed; right, the answer is an empty frame (the
 * 4-byte size 0: PLAIN's server sends no bytes) and the connection is
 * KAUTH_DONE; wrong, the connection closes without an answer, as Kafka's
 * does (it has no error layout for raw tokens).
 *
 * Size.  Until it has logged in, a connection's frames may be at most
 * KSASL_MAX_RECEIVE bytes (512 KiB, Kafka's sasl.server.max.receive.size
 * default); a larger size closes it before its bytes are buffered.
 *
 * Timing.  A password is compared over every byte the client sent, whether
 * or not it matches and whether or not the user exists, so how long the
 * answer takes says nothing about the stored password.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listener.h"

#define KSASL_MAX_FILE (1 << 20) /* a users file larger is refused */

typedef struct kuser {
    const char *name, *pass; /* into the file's bytes, not terminated */
    size_t name_len, pass_len;
} kuser;

struct ksasl {
    char *buf;    /* the file's bytes, wiped at ksasl_free()      */
    size_t len;   /* their count                                  */
    kuser *users; /* one per user line, sorted by name (user_cmp) */
    size_t n;
};

/* ---- the users file ----------------------------------------------------- */

static void
wipe_free(void *p, size_t len)
{
    if (p != NULL)
        explicit_bzero(p, len);
    free(p);
}

void
ksasl_free(ksasl *k)
{
    if (k == NULL)
        return;
    wipe_free(k->buf, k->len);
    wipe_free(k->users, k->n * sizeof *k->users);
    free(k);
}

/* The whole file at path into *buf (malloc) and *len: 0, -errno, or
 * SAMSA_EINVAL past KSASL_MAX_FILE. */
static int
read_file(const char *path, char **buf, size_t *len)
{
    /* O_NONBLOCK: a FIFO under the name would block the open for ever
     * (and samsa serve with it, deaf to SIGTERM); it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return samsa__from_errno(-errno);
    struct stat st;
    int rc = 0;
    char *b = NULL;
    size_t n = 0;
    if (fstat(fd, &st) != 0)
        rc = samsa__from_errno(-errno);
    else if (!S_ISREG(st.st_mode) || st.st_size > KSASL_MAX_FILE)
        rc = SAMSA_EINVAL; /* a directory, a device, or far too large */
    else if ((b = malloc((size_t)st.st_size + 1)) == NULL)
        rc = SAMSA_ENOMEM;
    while (rc == 0) {
        ssize_t r = read(fd, b + n, (size_t)st.st_size + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = samsa__from_errno(-errno);
        else if (r == 0)
            break;
        else if ((n += (size_t)r) > (size_t)st.st_size)
            rc = SAMSA_EINVAL; /* it grew while read: not a users file */
    }
    close(fd);
    if (rc != 0) {
        wipe_free(b, n);
        return rc;
    }
    *buf = b;
    *len = n;
    return 0;
}

static bool
same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Users by name, bytewise, a shorter name first (qsort, bsearch). */
static int
user_cmp(const void *a, const void *b)
{
    const kuser *x = a, *y = b;
    int c = memcmp(x->name, y->name,
                   x->name_len < y->name_len ? x->name_len : y->name_len);
    return c != 0 ? c
                  : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* The user lines of k->buf into k->users: 0 or SAMSA_EINVAL, SAMSA_ENOMEM. */
static int
parse(ksasl *k)
{
    if (memchr(k->buf, '\0', k->len) != NULL)
        return SAMSA_EINVAL;
    size_t cap = 0;
    for (size_t at = 0; at < k->len;) {
        char *line = k->buf + at;
        char *nl = memchr(line, '\n', k->len - at);
        size_t len = nl != NULL ? (size_t)(nl - line) : k->len - at;
        at += len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len == 0 || line[0] == '#')
            continue;
        char *colon = memchr(line, ':', len);
        if (colon == NULL || colon == line || colon == line + len - 1)
            return SAMSA_EINVAL; /* no colon, no user, or no password */
        kuser u = {line, colon + 1, (size_t)(colon - line),
                   len - (size_t)(colon - line) - 1};
        if (samsa__array_room(&k->users, k->n, &cap, sizeof u, 8) != 0)
            return SAMSA_ENOMEM;
        k->users[k->n++] = u;
    }
    /* Sorted, for bsearch at each login and to find a name given twice
     * (which of the two would count?) without comparing every pair. */
    if (k->n > 0)
        qsort(k->users, k->n, sizeof *k->users, user_cmp);
    for (size_t i = 1; i < k->n; i++)
        if (user_cmp(&k->users[i - 1], &k->users[i]) == 0)
            return SAMSA_EINVAL;
    return k->n > 0 ? 0 : SAMSA_EINVAL;
}

int
ksasl_open(const char *path, ksasl **out)
{
    ksasl *k = calloc(1, sizeof *k);
    if (k == NULL)
        return SAMSA_ENOMEM;
    int rc = read_file(path, &k->buf, &k->len);
    if (rc == 0)
        rc = parse(k);
    if (rc != 0) {
        ksasl_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

/* ---- PLAIN -------------------------------------------------------------- */

/* Does the client's password (alen bytes at a) equal the stored one?  The
 * time taken depends on alen only: every byte of a is compared, against
 * the stored bytes cycled, and the lengths' difference is folded in. */
static bool
same_secret(const uint8_t *a, size_t alen, const char *b, size_t blen)
{
    volatile uint8_t d = (uint8_t)(alen != blen);
    for (size_t i = 0; i < alen; i++)
        d |= a[i] ^ (uint8_t)b[i % blen];
    return d == 0;
}

/* RFC 4616's message (len bytes at p) checked against the users: NULL
 * when it authenticates, else the message to send with
 * SASL_AUTHENTICATION_FAILED (Kafka's PlainSaslServer's words). */
static const char *
plain_check(const ksasl *k, const uint8_t *p, size_t len)
{
    /* authzid NUL authcid NUL passwd, split as Kafka does: at most four
     * pieces looked for, exactly three wanted. */
    const uint8_t *tok[4];
    size_t tlen[4], nt = 0, at = 0;
    for (; nt < 4; nt++) {
        const uint8_t *z = len > at ? memchr(p + at, '\0', len - at) : NULL;
        tok[nt] = p + at;
        tlen[nt] = z != NULL ? (size_t)(z - (p + at)) : len - at;
        if (z == NULL) {
            nt++;
            break;
        }
        at += tlen[nt] + 1;
    }
    static const char *const pieces[] = {
        [1] = "Invalid SASL/PLAIN response: expected 3 tokens, got 1",
        [2] = "Invalid SASL/PLAIN response: expected 3 tokens, got 2",
        [4] = "Invalid SASL/PLAIN response: expected 3 tokens, got 4"};
    if (nt != 3)
        return pieces[nt];
    if (tlen[1] == 0)
        return "Authentication failed: username not specified";
    if (tlen[2] == 0)
        return "Authentication failed: password not specified";
    kuser key = {.name = (const char *)tok[1], .name_len = tlen[1]};
    const kuser *u = bsearch(&key, k->users, k->n, sizeof *k->users, user_cmp);
    /* An unknown user's password is compared too (against the first
     * user's, and fails): the time does not tell which users exist. */
    bool ok = same_secret(tok[2], tlen[2], u ? u->pass : k->users[0].pass,
                          u ? u->pass_len : k->users[0].pass_len) &&
              u != NULL;
    if (!ok)
        return "Authentication failed: Invalid username or password";
    if (tlen[0] != 0 &&
        !same_bytes((const char *)tok[0], tlen[0], u->name, u->name_len))
        return "Authentication failed: Client requested an authorization id "
               "that is different from username";
    return NULL;
}

/* ---- the requests ------------------------------------------------------- */

bool
ksasl_allowed(const kconn *c, int16_t key)
{
    switch (c->auth) {
    case KAUTH_NONE:
        return key == KAPI_API_VERSIONS || key == KAPI_SASL_HANDSHAKE;
    case KAUTH_MECH:
    case KAUTH_RAW: /* (listener_answer() takes its frame as a token) */
        /* A second handshake is answered ILLEGAL_SASL_STATE, then closed
         * (kapi_sasl_handshake). */
        return key == KAPI_SASL_AUTHENTICATE || key == KAPI_SASL_HANDSHAKE;
    default:
        return true;
    }
}

/* SaslHandshake (key 17) v0-1: the same layouts; v0 makes the next frame
 * a raw token (ksasl_raw()). */
int
kapi_sasl_handshake(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)l;
    kstr mech = kread_str(&req->body, false);
    if (req->body.bad)
        return KANS_CLOSE;
    int16_t err = KERR_NONE;
    if (c->auth != KAUTH_NONE)
        err = KERR_ILLEGAL_SASL_STATE;
    else if (!kstr_eq(mech, "PLAIN"))
        err = KERR_UNSUPPORTED_SASL_MECHANISM;
    kwrite_i16(out, err);
    kwrite_array(out, false, 1); /* the mechanisms enabled */
    kwrite_strz(out, false, "PLAIN");
    if (err == KERR_NONE)
        c->auth = req->version == 0 ? KAUTH_RAW : KAUTH_MECH;
    /* Authenticated already: refused, and the connection serves on. */
    return err == KERR_NONE || c->auth == KAUTH_DONE ? KANS_DONE : KANS_LAST;
}

/* SaslAuthenticate (key 36) v0-2, v2 flexible. */
int
kapi_sasl_authenticate(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    bool flex = req->version >= 2;
    kstr tok = kread_bytes(&req->body, flex);
    kread_tags(&req->body, flex);
    if (req->body.bad || c->auth == KAUTH_NONE)
        return KANS_CLOSE; /* no handshake first: ksasl_allowed() */
    const char *msg;
    int16_t err;
    if (c->auth == KAUTH_DONE) {
        err = KERR_ILLEGAL_SASL_STATE;
        msg = "SaslAuthenticate request received after successful "
              "authentication";
    } else {
        msg = plain_check(l->sasl, (const uint8_t *)(tok.p ? tok.p : ""),
                          tok.len);
        err = msg != NULL ? KERR_SASL_AUTHENTICATION_FAILED : KERR_NONE;
    }
    kwrite_i16(out, err);
    kwrite_strz(out, flex, msg);
    kwrite_bytes_len(out, flex, 0); /* PLAIN's server sends no bytes */
    if (req->version >= 1)
        kwrite_i64(out, 0); /* session lifetime: none (no KIP-368) */
    kwrite_tags(out, flex);
    if (err == KERR_SASL_AUTHENTICATION_FAILED)
        return KANS_LAST;
    if (err == KERR_NONE)
        c->auth = KAUTH_DONE;
    return KANS_DONE;
}

int
ksasl_raw(samsa_listener *l, kconn *c, const uint8_t *p, size_t len)
{
    if (plain_check(l->sasl, p, len) != NULL)
        return KANS_CLOSE;
    kwrite_i32(&c->out, 0); /* an empty frame: authenticated */
    c->auth = KAUTH_DONE;
    return c->out.bad ? KANS_CLOSE : KANS_DONE;
}
