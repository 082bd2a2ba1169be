/*
 * kapi_join.c - Kafka's classic consumer-group protocol: JoinGroup (key
 * 11), SyncGroup (14), Heartbeat (12), LeaveGroup (13), ListGroups (16),
 * DescribeGroups (15), and the membership checks of OffsetCommit.
 *
 * The coordinator follows Kafka's GroupCoordinator.  A group is Empty,
 * PreparingRebalance (members rejoin), CompletingRebalance (the leader
 * computes the assignment), Stable, or Dead (not here: a group with no
 * member is forgotten, and described as Dead).  A new member, a member
 * that leaves or expires, or the leader rejoining starts a rebalance:
 * every member's JoinGroup is held (parked on its connection) until every
 * known member has rejoined or the group's rebalance timeout (its
 * members' largest) has passed, when those that did not rejoin are
 * removed.  Then the generation goes up, one protocol all members support
 * is chosen (the leader's first), and the parked JoinGroups are answered:
 * the leader's carries every member and its metadata.  The leader's
 * SyncGroup hands out the assignment it computed; the others' SyncGroups
 * wait for it.  Heartbeats answer REBALANCE_IN_PROGRESS while members
 * must rejoin; a member not heard from for its session timeout is removed
 * (the loop's timer: kgroups_tick()).  JoinGroup v4+ first answers
 * MEMBER_ID_REQUIRED with a member id (KIP-394); the member joins with it.
 *
 * Threads.  Only the loop's thread touches the groups: handlers, timers
 * and parked replies all run there, so there is no lock.  A parked reply
 * (kwait) and its member point at each other; whichever goes first
 * detaches the other: a closed connection's member stays (as Kafka's:
 * it expires by its session timeout), a removed member's parked replies
 * are answered UNKNOWN_MEMBER_ID.
 *
 * Limits.  No static membership (group instance ids are read and
 * echoed, not used to fence), no initial rebalance delay, session
 * timeouts are not held to Kafka's broker bounds (any from 1 ms to 30
 * min: tests use short ones).  The store's own consumer groups
 * (samsa_consumer_open()) are separate memberships of the same offsets: a
 * JoinGroup for a name with members in this process is refused with
 * INCONSISTENT_GROUP_PROTOCOL (samsa_group_members() tells); the other
 * way round is not checked, so an application must not open an
 * in-process consumer of a group Kafka clients use through the listener.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"

#define MAX_SESSION_MS 1800000 /* Kafka's group.max.session.timeout.ms */
#define MAX_MEMBERS    4096    /* members and pending ids, all groups  */
#define GROUP_BUCKETS  4096    /* hash buckets of the groups' names    */
#define NS_PER_MS      1000000

enum { GS_EMPTY, GS_PREPARING, GS_COMPLETING, GS_STABLE, GS_DEAD };
static const char *const state_name[] = {
    "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"};

/* A JoinGroup or SyncGroup parked until its group answers it. */
typedef struct kwait {
    kpark head;
    struct kwait **slot; /* the member's pointer to it; NULL: detached */
    kgroups *gs;
    bool ready; /* reply is the answer */
    kwrite reply;
} kwait;

typedef struct kproto {
    char *name;
    uint8_t *meta;
    size_t len;
} kproto;

typedef struct kmember {
    char *id, *instance, *client;
    char host[48];
    int32_t session_ms, rebalance_ms;
    int64_t heard; /* the last join, sync, heartbeat or commit (ns) */
    kproto *protos;
    int32_t nprotos;
    uint8_t *assign; /* what the leader's SyncGroup gave it */
    size_t assign_len;
    bool pending; /* has its id (MEMBER_ID_REQUIRED), not joined yet */
    bool joined;  /* rejoined in the rebalance under way */
    kwait *join, *sync;
    struct kmember *next;
} kmember;

typedef struct kgroup {
    char *name;
    size_t name_len;
    int state;
    int32_t generation;
    char *ptype;      /* the members' protocol type ("consumer") */
    char *protocol;   /* chosen at the last completed join */
    char *leader;     /* member id */
    int64_t deadline; /* PreparingRebalance: when it completes anyway */
    kmember *members; /* in join order */
    struct kgroup *next;
    struct kgroup *hnext; /* in its bucket of kgroups.bucket */
} kgroup;

struct kgroups {
    kgroup *list;
    /* The groups by name: every request names its group, and DescribeGroups
     * many; walking the list with strlen() on each name cost a lookup the
     * length of all names (4096 groups of 249 bytes: 1 MB a lookup). */
    kgroup *bucket[GROUP_BUCKETS];
    uint64_t ids; /* member ids handed out */
    int64_t born; /* the listener's start: ids unique across runs */
    int ready;    /* parked replies ready, not yet sent */
    int nmembers; /* bounded: MAX_MEMBERS */
};

/* ---- parked replies ---------------------------------------------------- */

static int
wait_retry(samsa_listener *l, kpark *p, kwrite *out, int64_t *deadline_ns)
{
    (void)l;
    kwait *w = (kwait *)p;
    *deadline_ns = -1; /* its group's timers answer it */
    if (!w->ready)
        return KANS_PARKED;
    kwrite_take(out, &w->reply);
    return KANS_DONE;
}

static void
wait_free(samsa_listener *l, kpark *p)
{
    (void)l;
    kwait *w = (kwait *)p;
    if (w->slot != NULL)
        *w->slot = NULL; /* its connection closed: the member stays */
    if (w->ready)
        w->gs->ready--;
    kwrite_free(&w->reply);
    free(w);
}

static const kpark_ops wait_ops = {wait_retry, wait_free};

/* The reply of the wait in *slot (if any) is written: it is ready, and
 * detached from its member. */
static void
wait_done(kgroups *gs, kwait **slot)
{
    kwait *w = *slot;
    if (w == NULL)
        return;
    w->ready = true;
    w->slot = NULL;
    *slot = NULL;
    gs->ready++;
}

/* Park req on c as the wait in *slot; a wait already there (the member
 * sent the same request again, on another connection) is answered with
 * err by answer_old first. */
static int
wait_park(samsa_listener *l, kconn *c, kreq *req, kwait **slot)
{
    kwait *w = calloc(1, sizeof *w);
    if (w == NULL)
        return KANS_CLOSE;
    w->head = (kpark){&wait_ops, req->key, req->version, req->correlation};
    w->gs = l->groups;
    w->slot = slot;
    *slot = w;
    c->parked = &w->head;
    return KANS_PARKED;
}

/* c's request, just parked: if its group answered it at once (a join
 * that completes the rebalance, the leader's sync), the answer goes now,
 * in out, as any handler's. */
static int
wait_now(kconn *c, kwrite *out)
{
    kwait *w = (kwait *)c->parked;
    if (!w->ready)
        return KANS_PARKED;
    kwrite_take(out, &w->reply);
    c->parked = NULL;
    wait_free(NULL, &w->head);
    return KANS_DONE;
}

/* ---- groups and members ------------------------------------------------ */

static kgroups *
groups_of(samsa_listener *l)
{
    if (l->groups == NULL && (l->groups = calloc(1, sizeof *l->groups)) != NULL)
        l->groups->born = samsa__now_ns();
    return l->groups;
}

static kgroup **
group_bucket(kgroups *gs, const char *name, size_t len)
{
    return &gs->bucket[samsa__bytes_hash(name, len) % GROUP_BUCKETS];
}

static kgroup *
group_find(kgroups *gs, kstr name)
{
    if (gs == NULL || name.p == NULL)
        return NULL;
    for (kgroup *g = *group_bucket(gs, name.p, name.len); g != NULL;
         g = g->hnext)
        if (g->name_len == name.len && memcmp(g->name, name.p, name.len) == 0)
            return g;
    return NULL;
}

static kmember *
member_find(kgroup *g, kstr id)
{
    if (g == NULL || id.p == NULL)
        return NULL;
    for (kmember *m = g->members; m != NULL; m = m->next)
        if (kstr_eq(id, m->id))
            return m;
    return NULL;
}

static void
protos_free(kproto *p, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].meta);
    }
    free(p);
}

static void
member_free(kgroups *gs, kmember *m)
{
    if (m->join != NULL)
        m->join->slot = NULL;
    if (m->sync != NULL)
        m->sync->slot = NULL;
    protos_free(m->protos, m->nprotos);
    free(m->id);
    free(m->instance);
    free(m->client);
    free(m->assign);
    free(m);
    gs->nmembers--;
}

static void
group_unlink_free(kgroups *gs, kgroup *g)
{
    for (kgroup **p = &gs->list; *p != NULL; p = &(*p)->next)
        if (*p == g) {
            *p = g->next;
            break;
        }
    for (kgroup **p = group_bucket(gs, g->name, g->name_len); *p != NULL;
         p = &(*p)->hnext)
        if (*p == g) {
            *p = g->hnext;
            break;
        }
    while (g->members != NULL) {
        kmember *m = g->members;
        g->members = m->next;
        member_free(gs, m);
    }
    free(g->name);
    free(g->ptype);
    free(g->protocol);
    free(g->leader);
    free(g);
}

void
kgroups_free(samsa_listener *l)
{
    kgroups *gs = l->groups;
    if (gs == NULL)
        return;
    while (gs->list != NULL)
        group_unlink_free(gs, gs->list);
    free(gs);
    l->groups = NULL;
}

/* The members that count (joined with their id, not pending). */
static int
member_count(const kgroup *g)
{
    int n = 0;
    for (const kmember *m = g->members; m != NULL; m = m->next)
        n += !m->pending;
    return n;
}

static const kproto *
proto_find(const kmember *m, const char *name)
{
    for (int32_t i = 0; name != NULL && i < m->nprotos; i++)
        if (strcmp(m->protos[i].name, name) == 0)
            return &m->protos[i];
    return NULL;
}

/* Do all members (but skip) support protocol name? */
static bool
all_support(const kgroup *g, const kmember *skip, const char *name)
{
    for (const kmember *m = g->members; m != NULL; m = m->next)
        if (m != skip && !m->pending && proto_find(m, name) == NULL)
            return false;
    return true;
}

/* ---- replies ----------------------------------------------------------- */

static void
join_reply(kwrite *out, int16_t v, int16_t err, const kgroup *g,
           const char *member, bool leader)
{
    bool ok = err == KERR_NONE;
    if (v >= 2)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_i16(out, err);
    kwrite_i32(out, ok ? g->generation : -1);
    kwrite_strz(out, false, ok && g->protocol ? g->protocol : "");
    kwrite_strz(out, false, ok && g->leader ? g->leader : "");
    kwrite_strz(out, false, member != NULL ? member : "");
    if (!ok || !leader) {
        kwrite_array(out, false, 0);
        return;
    }
    kwrite_array(out, false, member_count(g));
    for (const kmember *m = g->members; m != NULL; m = m->next) {
        if (m->pending)
            continue;
        const kproto *p = proto_find(m, g->protocol);
        kwrite_strz(out, false, m->id);
        if (v >= 5)
            kwrite_strz(out, false, m->instance);
        kwrite_bytes_len(out, false, p != NULL ? (int64_t)p->len : 0);
        if (p != NULL)
            kwrite_raw(out, p->meta, p->len);
    }
}

static void
sync_reply(kwrite *out, int16_t v, int16_t err, const kmember *m)
{
    bool ok = err == KERR_NONE && m != NULL;
    if (v >= 1)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_i16(out, err);
    kwrite_bytes_len(out, false, ok ? (int64_t)m->assign_len : 0);
    if (ok && m->assign_len > 0)
        kwrite_raw(out, m->assign, m->assign_len);
}

/* Answer m's parked join or sync with err (it is removed, or its
 * generation is over). */
static void
join_answer(kgroups *gs, kgroup *g, kmember *m, int16_t err)
{
    if (m->join == NULL)
        return;
    join_reply(&m->join->reply, m->join->head.version, err, g, m->id,
               g->leader != NULL && strcmp(g->leader, m->id) == 0);
    wait_done(gs, &m->join);
}

static void
sync_answer(kgroups *gs, kmember *m, int16_t err)
{
    if (m->sync == NULL)
        return;
    sync_reply(&m->sync->reply, m->sync->head.version, err, m);
    wait_done(gs, &m->sync);
}

/* ---- the state machine ------------------------------------------------- */

/* Members must rejoin: a new member, one gone, the leader or a member's
 * protocols changed. */
static void
rebalance(kgroups *gs, kgroup *g)
{
    int64_t longest = 0;
    for (kmember *m = g->members; m != NULL; m = m->next) {
        sync_answer(gs, m, KERR_REBALANCE_IN_PROGRESS);
        m->joined = false;
        if (!m->pending && m->rebalance_ms > longest)
            longest = m->rebalance_ms;
    }
    g->state = GS_PREPARING;
    g->deadline = samsa__now_ns() + longest * NS_PER_MS;
}

static void
member_remove(kgroups *gs, kgroup *g, kmember *m)
{
    join_answer(gs, g, m, KERR_UNKNOWN_MEMBER_ID);
    sync_answer(gs, m, KERR_UNKNOWN_MEMBER_ID);
    for (kmember **p = &g->members; *p != NULL; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            break;
        }
    if (g->leader != NULL && strcmp(g->leader, m->id) == 0) {
        free(g->leader);
        g->leader = NULL;
    }
    member_free(gs, m);
}

/* The join completes: those that did not rejoin are out, the generation
 * goes up, and the parked joins are answered.  A group left with no
 * member is forgotten (its offsets stay in the store). */
static bool
join_complete(kgroups *gs, kgroup *g)
{
    for (kmember *m = g->members, *nx; m != NULL; m = nx) {
        nx = m->next;
        if (!m->pending && !m->joined)
            member_remove(gs, g, m);
    }
    if (member_count(g) == 0) {
        bool pending = g->members != NULL;
        free(g->protocol);
        g->protocol = NULL;
        g->generation++;
        g->state = GS_EMPTY;
        if (!pending)
            group_unlink_free(gs, g);
        return !pending;
    }
    kmember *first = NULL;
    for (kmember *m = g->members; m != NULL && first == NULL; m = m->next)
        if (!m->pending)
            first = m;
    if (g->leader == NULL)
        g->leader = strdup(first->id);
    kmember *lead = first;
    for (kmember *m = g->members; m != NULL; m = m->next)
        if (!m->pending && g->leader != NULL && strcmp(g->leader, m->id) == 0)
            lead = m;
    /* The leader's first protocol every member supports (the join
     * refused any member without one in common). */
    free(g->protocol);
    g->protocol = NULL;
    for (int32_t i = 0; i < lead->nprotos && g->protocol == NULL; i++)
        if (all_support(g, lead, lead->protos[i].name))
            g->protocol = strdup(lead->protos[i].name);
    g->generation++;
    g->state = GS_COMPLETING;
    int64_t now = samsa__now_ns();
    for (kmember *m = g->members; m != NULL; m = m->next) {
        if (m->pending)
            continue;
        m->heard = now;
        free(m->assign);
        m->assign = NULL;
        m->assign_len = 0;
        join_answer(gs, g, m,
                    g->protocol != NULL && g->leader != NULL
                        ? KERR_NONE
                        : KERR_INCONSISTENT_GROUP_PROTOCOL);
    }
    return false;
}

/* Complete the join if every member has rejoined; true if g is freed. */
static bool
join_try_complete(kgroups *gs, kgroup *g)
{
    if (g->state != GS_PREPARING)
        return false;
    for (kmember *m = g->members; m != NULL; m = m->next)
        if (!m->pending && !m->joined)
            return false;
    return join_complete(gs, g);
}

/* m left or expired: the others rejoin without it.  True if g is freed
 * (it has no member left). */
static bool
member_gone(kgroups *gs, kgroup *g, kmember *m)
{
    bool counted = !m->pending;
    member_remove(gs, g, m);
    if (counted && (g->state == GS_STABLE || g->state == GS_COMPLETING))
        rebalance(gs, g);
    if (g->state == GS_PREPARING)
        return join_try_complete(gs, g);
    if (g->members == NULL) {
        group_unlink_free(gs, g);
        return true;
    }
    return false;
}

int64_t
kgroups_tick(samsa_listener *l)
{
    kgroups *gs = l->groups;
    if (gs == NULL)
        return -1;
    int64_t now = samsa__now_ns(), next = -1;
    for (kgroup *g = gs->list, *gnx; g != NULL; g = gnx) {
        gnx = g->next;
        bool gone = false;
        /* A member awaiting its join is bounded by the rebalance timeout,
         * not by its session (as Kafka). */
        for (kmember *m = g->members, *nx; m != NULL && !gone; m = nx) {
            nx = m->next;
            if (g->state == GS_PREPARING && m->joined)
                continue;
            /* A rebalance this starts may answer nx's parked join:
             * nx stays a member, so walking on is safe. */
            if (now - m->heard >= (int64_t)m->session_ms * NS_PER_MS)
                gone = member_gone(gs, g, m);
        }
        if (gone)
            continue;
        if (g->state == GS_PREPARING && now >= g->deadline &&
            join_complete(gs, g))
            continue;
        for (kmember *m = g->members; m != NULL; m = m->next) {
            int64_t t = m->heard + (int64_t)m->session_ms * NS_PER_MS;
            if (!(g->state == GS_PREPARING && m->joined) &&
                (next < 0 || t < next))
                next = t;
        }
        if (g->state == GS_PREPARING && (next < 0 || g->deadline < next))
            next = g->deadline;
    }
    return next;
}

bool
kgroups_ready(samsa_listener *l)
{
    return l->groups != NULL && l->groups->ready > 0;
}

/* ---- JoinGroup --------------------------------------------------------- */

static int
noop_member(const samsa_group_member *m, void *ctx)
{
    (void)m;
    (void)ctx;
    return 0;
}

/* The error of a join to group for the store's own consumer groups:
 * refused while it has members in this process (samsa_group_members()
 * walks them; SAMSA_ENOGROUP: none), or for a name the store refuses. */
static int16_t
inprocess_check(samsa *s, const char *group)
{
    int rc = samsa_group_members(s, group, noop_member, NULL);
    if (rc == SAMSA_ENOGROUP)
        return KERR_NONE;
    return rc == SAMSA_EINVAL ? KERR_INVALID_GROUP_ID
                              : KERR_INCONSISTENT_GROUP_PROTOCOL;
}

/* A JoinGroup's protocols, decoded (copies: they outlive the frame). */
static kproto *
protos_decode(kread *r, int32_t *n)
{
    int32_t np = kread_array(r, false, 6);
    *n = 0;
    if (np <= 0 || r->bad)
        return NULL;
    kproto *p = calloc((size_t)np, sizeof *p);
    if (p == NULL) {
        r->bad = true; /* no memory: the connection closes */
        return NULL;
    }
    for (int32_t i = 0; i < np && !r->bad; i++) {
        kstr name = kread_str(r, false);
        kstr meta = kread_bytes(r, false);
        p[i].name = kstr_dup(name);
        p[i].len = meta.p != NULL ? meta.len : 0;
        p[i].meta = malloc(p[i].len ? p[i].len : 1);
        *n = i + 1;
        if (p[i].meta == NULL) {
            r->bad = true;
            break;
        }
        if (p[i].len > 0)
            memcpy(p[i].meta, meta.p, p[i].len);
        if (p[i].name == NULL)
            p[i].name = strdup(""); /* a null name matches no one's */
        if (p[i].name == NULL)
            r->bad = true;
    }
    return p;
}

static bool
protos_same(const kproto *a, int32_t na, const kproto *b, int32_t nb)
{
    if (na != nb)
        return false;
    for (int32_t i = 0; i < na; i++)
        if (strcmp(a[i].name, b[i].name) != 0 || a[i].len != b[i].len ||
            memcmp(a[i].meta, b[i].meta, a[i].len) != 0)
            return false;
    return true;
}

/* Can a member with these protocols be in g (besides m itself)? */
static bool
protos_fit(const kgroup *g, const kmember *m, const kproto *p, int32_t n)
{
    if (member_count(g) == 0 ||
        (member_count(g) == 1 && m != NULL && !m->pending))
        return true;
    for (int32_t i = 0; i < n; i++)
        if (all_support(g, m, p[i].name))
            return true;
    return false;
}

static kmember *
member_new(kgroups *gs, kgroup *g, kstr client)
{
    if (gs->nmembers >= MAX_MEMBERS)
        return NULL;
    kmember *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    char *cid = kstr_dup(client);
    const char *base = cid != NULL && cid[0] != '\0' ? cid : "member";
    int n =
        snprintf(NULL, 0, "%s-%" PRIx64 "-%" PRIu64, base, gs->born, ++gs->ids);
    if ((m->id = malloc((size_t)n + 1)) == NULL) {
        free(cid);
        free(m);
        return NULL;
    }
    snprintf(m->id, (size_t)n + 1, "%s-%" PRIx64 "-%" PRIu64, base, gs->born,
             gs->ids);
    free(cid);
    kmember **tail = &g->members;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = m;
    gs->nmembers++;
    return m;
}

static kgroup *
group_new(kgroups *gs, const char *name, kstr ptype)
{
    kgroup *g = calloc(1, sizeof *g);
    if (g == NULL || (g->name = strdup(name)) == NULL ||
        (g->ptype = kstr_dup(ptype)) == NULL) {
        if (g != NULL)
            free(g->name);
        free(g);
        return NULL;
    }
    g->name_len = strlen(name);
    g->next = gs->list;
    gs->list = g;
    kgroup **b = group_bucket(gs, g->name, g->name_len);
    g->hnext = *b;
    *b = g;
    return g;
}

int
kapi_join_group(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    int16_t v = req->version;
    kread *r = &req->body;
    kstr group = kread_str(r, false);
    int32_t session = kread_i32(r);
    int32_t rebalance_ms = v >= 1 ? kread_i32(r) : session;
    kstr member = kread_str(r, false);
    kstr instance = v >= 5 ? kread_str(r, false) : (kstr){0, 0};
    kstr ptype = kread_str(r, false);
    int32_t np;
    kproto *protos = protos_decode(r, &np);
    kgroups *gs = groups_of(l);
    if (r->bad || gs == NULL) {
        protos_free(protos, np);
        return KANS_CLOSE;
    }
    char *gname = kstr_dup(group);
    kgroup *g = group_find(gs, group);
    kmember *m = NULL;
    int16_t err = KERR_NONE;
    if (gname == NULL || gname[0] == '\0')
        err = KERR_INVALID_GROUP_ID;
    else if (session <= 0 || session > MAX_SESSION_MS || rebalance_ms <= 0)
        err = KERR_INVALID_SESSION_TIMEOUT;
    else if (np == 0 || ptype.p == NULL || ptype.len == 0)
        err = KERR_INCONSISTENT_GROUP_PROTOCOL;
    else
        err = inprocess_check(l->s, gname);
    if (err == KERR_NONE) {
        if (member.p != NULL && member.len > 0 &&
            (m = member_find(g, member)) == NULL)
            err = KERR_UNKNOWN_MEMBER_ID;
        else if (g != NULL && member_count(g) > 0 &&
                 (!kstr_eq(ptype, g->ptype) || !protos_fit(g, m, protos, np)))
            err = KERR_INCONSISTENT_GROUP_PROTOCOL;
        else if (g == NULL && (g = group_new(gs, gname, ptype)) == NULL)
            err = KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (err == KERR_NONE && m == NULL) {
        if ((m = member_new(gs, g, req->client)) == NULL) {
            err = KERR_COORDINATOR_NOT_AVAILABLE;
            if (g->members == NULL)
                group_unlink_free(gs, g);
            g = NULL;
        } else if (v >= 4) {
            /* KIP-394: the id first, the join with it. */
            m->pending = true;
            m->session_ms = session;
            m->heard = samsa__now_ns();
            protos_free(protos, np);
            join_reply(out, v, KERR_MEMBER_ID_REQUIRED, g, m->id, false);
            free(gname);
            return KANS_DONE;
        } else {
            m->pending = true; /* joins below as a new member */
        }
    }
    free(gname);
    if (err != KERR_NONE) {
        protos_free(protos, np);
        char *mid = kstr_dup(member);
        join_reply(out, v, err, g, mid, false);
        free(mid);
        return KANS_DONE;
    }
    if (member_count(g) == 0 || g->ptype[0] == '\0') {
        char *pt = kstr_dup(ptype);
        if (pt != NULL) {
            free(g->ptype);
            g->ptype = pt;
        }
    }
    bool fresh = m->pending;
    bool changed = !protos_same(m->protos, m->nprotos, protos, np);
    protos_free(m->protos, m->nprotos);
    m->protos = protos;
    m->nprotos = np;
    m->pending = false;
    m->session_ms = session;
    m->rebalance_ms = rebalance_ms;
    m->heard = samsa__now_ns();
    free(m->instance);
    m->instance = kstr_dup(instance);
    char *cid = kstr_dup(req->client);
    free(m->client);
    m->client = cid;
    memcpy(m->host, c->host, sizeof m->host);
    bool leader = g->leader != NULL && strcmp(g->leader, m->id) == 0;
    /* A member whose join was answered, rejoining with nothing new, gets
     * the same answer again (its reply was lost). */
    if (!fresh && !changed &&
        (g->state == GS_COMPLETING || (g->state == GS_STABLE && !leader))) {
        join_reply(out, v, KERR_NONE, g, m->id, leader);
        return KANS_DONE;
    }
    if (g->state != GS_PREPARING)
        rebalance(gs, g);
    join_answer(gs, g, m, KERR_REBALANCE_IN_PROGRESS); /* an older join */
    m->joined = true;
    int rc = wait_park(l, c, req, &m->join);
    if (rc != KANS_PARKED)
        return rc;
    (void)join_try_complete(gs, g); /* g stays: m is in it */
    return wait_now(c, out);
}

/* ---- SyncGroup, Heartbeat, LeaveGroup ---------------------------------- */

/* The error of a request by (generation, member) to group, the member
 * in *mp when it is one. */
static int16_t
member_check(kgroups *gs, kstr group, int32_t generation, kstr member,
             kgroup **gp, kmember **mp)
{
    kgroup *g = group_find(gs, group);
    kmember *m = member_find(g, member);
    *gp = g;
    *mp = NULL;
    if (m == NULL || m->pending)
        return KERR_UNKNOWN_MEMBER_ID;
    *mp = m;
    if (generation != g->generation)
        return KERR_ILLEGAL_GENERATION;
    m->heard = samsa__now_ns();
    return KERR_NONE;
}

/* member_check, and members must rejoin while the group prepares a
 * rebalance (SyncGroup, Heartbeat). */
static int16_t
member_step(kgroups *gs, kstr group, int32_t generation, kstr member,
            kgroup **gp, kmember **mp)
{
    int16_t err = member_check(gs, group, generation, member, gp, mp);
    if (err == KERR_NONE && (*gp)->state == GS_PREPARING)
        err = KERR_REBALANCE_IN_PROGRESS;
    return err;
}

/* The head SyncGroup and Heartbeat share: the group, the generation
 * (returned), the member, and from v3 on its instance id (not used). */
static int32_t
member_head(kread *r, int16_t v, kstr *group, kstr *member)
{
    *group = kread_str(r, false);
    int32_t generation = kread_i32(r);
    *member = kread_str(r, false);
    if (v >= 3)
        (void)kread_str(r, false); /* group instance id */
    return generation;
}

int
kapi_sync_group(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    int16_t v = req->version;
    kread *r = &req->body;
    kstr group, member;
    int32_t generation = member_head(r, v, &group, &member);
    int32_t na = kread_array(r, false, 6);
    kread assigns = *r; /* walked again by the leader's sync below */
    for (int32_t i = 0; i < na && !r->bad; i++) {
        (void)kread_str(r, false);
        (void)kread_bytes(r, false);
    }
    kgroups *gs = groups_of(l);
    if (r->bad || gs == NULL)
        return KANS_CLOSE;
    kgroup *g;
    kmember *m;
    int16_t err = member_step(gs, group, generation, member, &g, &m);
    if (err != KERR_NONE || g->state == GS_STABLE) {
        sync_reply(out, v, err, m);
        return KANS_DONE;
    }
    /* CompletingRebalance: wait for the leader's assignment. */
    sync_answer(gs, m, KERR_REBALANCE_IN_PROGRESS); /* an older sync */
    int rc = wait_park(l, c, req, &m->sync);
    if (rc != KANS_PARKED || g->leader == NULL || strcmp(g->leader, m->id) != 0)
        return rc;
    for (int32_t i = 0; i < na; i++) {
        kmember *to = member_find(g, kread_str(&assigns, false));
        kstr a = kread_bytes(&assigns, false);
        if (to == NULL || to->pending || a.p == NULL)
            continue;
        uint8_t *copy = malloc(a.len ? a.len : 1);
        if (copy == NULL)
            return KANS_CLOSE; /* its parked wait goes with c */
        memcpy(copy, a.p, a.len);
        free(to->assign);
        to->assign = copy;
        to->assign_len = a.len;
    }
    g->state = GS_STABLE;
    for (kmember *x = g->members; x != NULL; x = x->next)
        sync_answer(gs, x, KERR_NONE);
    return wait_now(c, out);
}

int
kapi_heartbeat(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    kstr group, member;
    int32_t generation = member_head(r, v, &group, &member);
    kgroups *gs = groups_of(l);
    if (r->bad || gs == NULL)
        return KANS_CLOSE;
    kgroup *g;
    kmember *m;
    int16_t err = member_step(gs, group, generation, member, &g, &m);
    if (v >= 1)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_i16(out, err);
    return KANS_DONE;
}

/* member leaves group: its error. */
static int16_t
leave_one(kgroups *gs, kstr group, kstr member)
{
    kgroup *g = group_find(gs, group);
    kmember *m = member_find(g, member);
    if (m == NULL)
        return KERR_UNKNOWN_MEMBER_ID;
    (void)member_gone(gs, g, m);
    return KERR_NONE;
}

int
kapi_leave_group(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    kstr group = kread_str(r, false);
    kgroups *gs = groups_of(l);
    if (gs == NULL)
        return KANS_CLOSE;
    if (v < 3) {
        kstr member = kread_str(r, false);
        if (r->bad)
            return KANS_CLOSE;
        if (v >= 1)
            kwrite_i32(out, 0); /* throttle_time_ms */
        kwrite_i16(out, leave_one(gs, group, member));
        return KANS_DONE;
    }
    kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_i16(out, KERR_NONE);
    int32_t n = kread_array(r, false, 4);
    kwrite_array(out, false, n < 0 ? 0 : n);
    for (int32_t i = 0; i < n && !r->bad; i++) {
        kstr member = kread_str(r, false);
        kstr instance = kread_str(r, false);
        if (r->bad)
            break;
        kwrite_str(out, false, member.p, member.len);
        kwrite_str(out, false, instance.p, instance.len);
        kwrite_i16(out, leave_one(gs, group, member));
    }
    return r->bad ? KANS_CLOSE : KANS_DONE;
}

int16_t
kgroups_commit_check(samsa_listener *l, const char *group, int32_t generation,
                     kstr member)
{
    bool anonymous = generation < 0 && (member.p == NULL || member.len == 0);
    kgroup *g = group != NULL
                    ? group_find(l->groups, (kstr){group, strlen(group)})
                    : NULL;
    if (g == NULL)
        /* Not a group of the listener: a commit from outside any group
         * only (the store refuses it while in-process members exist). */
        return anonymous ? KERR_NONE : KERR_UNKNOWN_MEMBER_ID;
    if (anonymous)
        return g->state == GS_EMPTY ? KERR_NONE : KERR_UNKNOWN_MEMBER_ID;
    kgroup *same;
    kmember *m;
    int16_t err = member_check(l->groups, (kstr){group, strlen(group)},
                               generation, member, &same, &m);
    /* During PreparingRebalance the generation is still current: members
     * commit before they rejoin, as Kafka lets them. */
    if (err == KERR_NONE && g->state == GS_COMPLETING)
        err = KERR_REBALANCE_IN_PROGRESS;
    return err;
}

/* ---- ListGroups, DescribeGroups ---------------------------------------- */

typedef struct listed {
    kgroups *gs;
    kwrite *out;
    int32_t n;
} listed;

static int
list_inprocess(const char *name, samsa_group_type type, void *ctx)
{
    listed *ls = ctx;
    if (type != SAMSA_GROUP_CONSUMER ||
        group_find(ls->gs, (kstr){name, strlen(name)}) != NULL)
        return 0;
    kwrite_strz(ls->out, false, name);
    kwrite_strz(ls->out, false, "consumer");
    ls->n++;
    return 0;
}

int
kapi_list_groups(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    if (req->version >= 1)
        kwrite_i32(out, 0); /* throttle_time_ms */
    size_t err_at = out->len;
    kwrite_i16(out, KERR_NONE);
    size_t at = kwrite_reserve32(out);
    listed ls = {l->groups, out, 0};
    for (kgroup *g = l->groups ? l->groups->list : NULL; g != NULL;
         g = g->next, ls.n++) {
        kwrite_strz(out, false, g->name);
        kwrite_strz(out, false, g->ptype);
    }
    /* The store's groups too (those with committed offsets or members
     * in this process), as consumer groups. */
    int rc = samsa_group_list(l->s, list_inprocess, &ls);
    kwrite_patch32(out, at, ls.n);
    if (rc != 0 && !out->bad) {
        int16_t err = kapi_error(rc);
        out->buf[err_at] = (uint8_t)((uint16_t)err >> 8);
        out->buf[err_at + 1] = (uint8_t)err;
    }
    return KANS_DONE;
}

static void
describe_one(kwrite *out, int16_t v, const kgroup *g, kstr name)
{
    kwrite_i16(out, KERR_NONE);
    kwrite_str(out, false, name.p, name.len);
    bool stable = g != NULL && g->state == GS_STABLE;
    kwrite_strz(out, false, state_name[g != NULL ? g->state : GS_DEAD]);
    kwrite_strz(out, false, g != NULL ? g->ptype : "");
    kwrite_strz(out, false, stable && g->protocol ? g->protocol : "");
    kwrite_array(out, false, g != NULL ? member_count(g) : 0);
    for (const kmember *m = g != NULL ? g->members : NULL; m != NULL;
         m = m->next) {
        if (m->pending)
            continue;
        const kproto *p = stable ? proto_find(m, g->protocol) : NULL;
        kwrite_strz(out, false, m->id);
        if (v >= 4)
            kwrite_strz(out, false, m->instance);
        kwrite_strz(out, false, m->client != NULL ? m->client : "");
        kwrite_strz(out, false, m->host);
        kwrite_bytes_len(out, false, p != NULL ? (int64_t)p->len : 0);
        if (p != NULL)
            kwrite_raw(out, p->meta, p->len);
        kwrite_bytes_len(out, false, stable ? (int64_t)m->assign_len : 0);
        if (stable && m->assign_len > 0)
            kwrite_raw(out, m->assign, m->assign_len);
    }
    if (v >= 3)
        kwrite_i32(out, INT32_MIN); /* authorized operations: not given */
}

int
kapi_describe_groups(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    if (v >= 1)
        kwrite_i32(out, 0); /* throttle_time_ms */
    int32_t n = kread_array(r, false, 2);
    kstr *names = n > 0 ? calloc((size_t)n, sizeof *names) : NULL;
    if (n > 0 && names == NULL)
        return KANS_CLOSE;
    for (int32_t i = 0; i < n; i++)
        names[i] = kread_str(r, false);
    if (v >= 3)
        (void)kread_i8(r); /* include authorized operations */
    /* Each group once: a group's entry carries its members' metadata
     * and assignments, so answered per name, a name a few bytes long
     * repeated would cost that much each time (a reply of gigabytes). */
    int32_t once = r->bad ? -1 : kstr_repeats(names, n);
    kwrite_array(out, false, once < 0 ? 0 : once);
    for (int32_t i = 0; i < n && once >= 0; i++)
        if (names[i].len != KSTR_REPEAT)
            describe_one(out, v, group_find(l->groups, names[i]), names[i]);
    free(names);
    return once < 0 ? KANS_CLOSE : KANS_DONE;
}
