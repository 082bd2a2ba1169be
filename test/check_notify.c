/*
 * check_notify.c - the store-wide wake-up and the closing gate (notify.c)
 * that consumer-group polls and queue receives block on.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "storage/log.h"
#include "store/store.h"
#include "test.h"

/* A thread that blocks the way a poller does: enter, watch, wait. */
typedef struct blocked {
    samsa *s;
    int timeout_ms;
    _Atomic int state; /* 0 starting, 1 watching, 2 returned */
    int rc;
} blocked;

static void *
blocked_main(void *arg)
{
    blocked *b = arg;
    int rc = store_enter(b->s);
    if (rc == 0) {
        uint64_t seen = store_watch(b->s);
        atomic_store(&b->state, 1);
        rc = store_wait(b->s, seen, samsa__deadline_after(b->timeout_ms), NULL);
        store_unwatch(b->s);
        store_leave(b->s);
    }
    b->rc = rc;
    atomic_store(&b->state, 2);
    return NULL;
}

static void
wait_state(blocked *b, int state)
{
    while (atomic_load(&b->state) < state)
        usleep(1000);
}

START_TEST(test_produce_wakes_watcher)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    blocked b = {.s = s, .timeout_ms = -1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, blocked_main, &b), 0);
    wait_state(&b, 1);
    test_produce_str(s, "t", 0, NULL, "x");
    pthread_join(th, NULL);
    E(b.rc);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_notify_unwatched_is_free)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    /* Nobody watches: producing must not move the shared counter. */
    uint64_t before = atomic_load(&s->events);
    test_produce_str(s, "t", 0, NULL, "x");
    ck_assert_uint_eq(atomic_load(&s->events), before);
    /* Watched: it moves, once per produce call. */
    uint64_t seen = store_watch(s);
    test_produce_str(s, "t", 0, NULL, "y");
    ck_assert_uint_eq(atomic_load(&s->events), seen + 1);
    E(store_wait(s, seen, -1, NULL)); /* already moved: no sleep */
    store_unwatch(s);
    ck_assert_int_eq(atomic_load(&s->watchers), 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_wait_times_out)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    uint64_t seen = store_watch(s);
    EQ_RC(store_wait(s, seen, samsa__deadline_after(20), NULL),
          SAMSA_ETIMEDOUT);
    EQ_RC(store_wait(s, seen, samsa__deadline_after(0), NULL), SAMSA_ETIMEDOUT);
    store_unwatch(s);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_topic_changes_notify)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    uint64_t changes = atomic_load(&s->topic_changes);
    uint64_t seen = store_watch(s);
    E(samsa_topic_create(s, "t", NULL));
    ck_assert_uint_eq(atomic_load(&s->topic_changes), changes + 1);
    ck_assert_uint_eq(atomic_load(&s->events), seen + 1);
    EQ_RC(samsa_topic_create(s, "t", NULL), SAMSA_EEXIST); /* no change */
    ck_assert_uint_eq(atomic_load(&s->topic_changes), changes + 1);
    E(samsa_topic_delete(s, "t"));
    ck_assert_uint_eq(atomic_load(&s->topic_changes), changes + 2);
    ck_assert_uint_eq(atomic_load(&s->events), seen + 2);
    store_unwatch(s);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* samsa_close() wakes a thread blocked for ever, waits for it to leave,
 * and only then frees the store. */
START_TEST(test_close_wakes_blocked)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    blocked b[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        b[i] = (blocked){.s = s, .timeout_ms = i == 0 ? -1 : 60000};
        ck_assert_int_eq(pthread_create(&th[i], NULL, blocked_main, &b[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        wait_state(&b[i], 1);
    E(samsa_close(s));
    /* close returned after every blocked call left the store (a call
     * touching it later would be a use after free under ASan) */
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        EQ_RC(b[i].rc, SAMSA_ECLOSED);
    }
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_enter_refused_while_closing)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    atomic_store(&s->closing, true);
    EQ_RC(store_enter(s), SAMSA_ECLOSED);
    ck_assert_int_eq(atomic_load(&s->inside), 0);
    uint64_t seen = store_watch(s);
    EQ_RC(store_wait(s, seen, -1, NULL), SAMSA_ECLOSED); /* never sleeps */
    store_unwatch(s);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- readers that spin before they sleep (samsa_options.spin_ns) ------- */

typedef struct reader {
    samsa *s;
    int timeout_ms;
    _Atomic int state; /* 0 starting, 1 about to wait, 2 returned */
    int rc;
    samsa_message m;
    samsa_cursor *c;
} reader;

static void *
reader_main(void *arg)
{
    reader *r = arg;
    atomic_store(&r->state, 1);
    r->rc = samsa_cursor_next(r->c, &r->m, r->timeout_ms);
    atomic_store(&r->state, 2);
    return NULL;
}

static samsa *
open_spin(const char *dir, int64_t spin_ns)
{
    samsa_options o = {.spin_ns = spin_ns};
    samsa *s;
    E(samsa_open(dir, &o, &s));
    E(samsa_topic_create(s, "t", NULL));
    return s;
}

static _Atomic int *
log_waiters(samsa *s)
{
    return &store_topic_find(s, "t")->parts[0]->log->waiters;
}

/* A reader blocked at the end of "t" in a store opened with spin_ns;
 * want_waiters: how many the log counts while it waits (poll until so);
 * then a produce of value reaches it. */
static void
reader_handoff(int64_t spin_ns, int want_waiters, const char *value)
{
    const char *dir = test_dir_make();
    samsa *s = open_spin(dir, spin_ns);
    reader r = {.s = s, .timeout_ms = -1};
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &r.c));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, reader_main, &r), 0);
    while (atomic_load(&r.state) < 1)
        usleep(1000);
    if (want_waiters == 0)
        usleep(20000); /* well inside its spin */
    for (int i = 0; i < 10000 && atomic_load(log_waiters(s)) != want_waiters;
         i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&r.state), 1); /* still waiting */
    ck_assert_int_eq(atomic_load(log_waiters(s)), want_waiters);
    ck_assert_int_eq(test_produce_str(s, "t", 0, NULL, value), 0);
    pthread_join(th, NULL);
    E(r.rc);
    ck_assert_int_eq(r.m.offset, 0);
    ck_assert_mem_eq(r.m.value, value, strlen(value));
    ck_assert_int_eq(atomic_load(log_waiters(s)), 0);
    E(samsa_cursor_close(r.c));
    E(samsa_close(s));
    test_dir_remove(dir);
}

/* A reader at the end polls for spin_ns before it sleeps: while it polls it
 * is not counted among the log's waiters, so the produce that reaches it
 * broadcasts to nobody (no system call on either side). */
START_TEST(test_spinning_reader_not_counted)
{
    reader_handoff(1000000000, 0, "x"); /* 1 s: longer than the test */
}
END_TEST

/* spin_ns -1: the reader sleeps at once, counted, and is woken. */
START_TEST(test_no_spin_sleeps_counted)
{
    reader_handoff(-1, 1, "y");
}
END_TEST

/* The deadline bounds the spin: a 1 s spin with a 20 ms timeout times
 * out (the wide bound below only tells a spin cut at the deadline from
 * one that ran its whole second). */
START_TEST(test_spin_bounded_by_deadline)
{
    const char *dir = test_dir_make();
    samsa *s = open_spin(dir, 1000000000);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &c));
    int64_t t0 = samsa__now_ns();
    EQ_RC(samsa_cursor_next(c, &m, 20), SAMSA_ETIMEDOUT);
    uint64_t seen = store_watch(s);
    EQ_RC(store_wait(s, seen, samsa__deadline_after(20), NULL),
          SAMSA_ETIMEDOUT);
    store_unwatch(s);
    ck_assert_int_lt(samsa__now_ns() - t0, 900000000);
    E(samsa_cursor_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* The default spin follows each reader's recent waits (util/spin.c):
 * the longest while nothing is learnt, twice the average (at least
 * 50 us), the longest when twice the average passes it, none when the
 * average does.  The average moves an eighth of the way up to a longer
 * wait, half way down to a shorter one; a wait counts as at most four
 * longest spins. */
START_TEST(test_spinner_policy)
{
    const int64_t max = SAMSA_SPIN_NS_DEFAULT;
    samsa__spinner sp = {0};
    ck_assert_int_eq(samsa__spinner_budget(&sp, max), max);
    ck_assert_int_eq(samsa__spinner_budget(&sp, 0), 0);
    samsa__spinner_learn(&sp, 30000, max);
    ck_assert_int_eq(samsa__spinner_budget(&sp, max), 60000);
    samsa__spinner_learn(&sp, 1000, max); /* (30000 + 1000) / 2 */
    ck_assert_int_eq(atomic_load(&sp.avg_ns), 15500);
    ck_assert_int_eq(samsa__spinner_budget(&sp, max), 50000); /* the floor */
    ck_assert_int_eq(samsa__spinner_budget(&sp, 20000), 20000);
    ck_assert_int_eq(samsa__spinner_budget(&sp, 15000), 0);

    samsa__spinner fast = {0};
    samsa__spinner_learn(&fast, 2000, max);
    ck_assert_int_eq(samsa__spinner_budget(&fast, max), 50000);
    ck_assert_int_eq(samsa__spinner_budget(&fast, 5000), 5000);

    samsa__spinner mid = {0};
    samsa__spinner_learn(&mid, 150000, max);
    ck_assert_int_eq(samsa__spinner_budget(&mid, max), max);

    samsa__spinner slow = {0};
    samsa__spinner_learn(&slow, 10000000000, max); /* an idle 10 s */
    ck_assert_int_eq(atomic_load(&slow.avg_ns), 4 * max);
    ck_assert_int_eq(samsa__spinner_budget(&slow, max), 0);
    /* Records at 10,000/s again: polling resumes after 3 waits. */
    int waits = 0;
    while (samsa__spinner_budget(&slow, max) == 0 && waits < 100) {
        samsa__spinner_learn(&slow, 100000, max);
        waits++;
    }
    ck_assert_int_eq(waits, 3);
    ck_assert_int_eq(atomic_load(&slow.avg_ns), 187500);

    /* One late record among records at 10,000/s leaves the polling on
     * ((7 * 100000 + 800000) / 8); a second one stops it. */
    samsa__spinner steady = {0};
    samsa__spinner_learn(&steady, 100000, max);
    samsa__spinner_learn(&steady, 10000000000, max);
    ck_assert_int_eq(atomic_load(&steady.avg_ns), 187500);
    ck_assert_int_eq(samsa__spinner_budget(&steady, max), max);
    samsa__spinner_learn(&steady, 10000000000, max);
    ck_assert_int_eq(samsa__spinner_budget(&steady, max), 0);
    samsa__spinner_learn(&slow, -5, max); /* a clock step: counted as 0 */
    ck_assert_int_ge(atomic_load(&slow.avg_ns), 0);
}
END_TEST

/* What the store gives a reader to poll: a fixed spin_ns as it is, and
 * the spinner's choice, up to SAMSA_SPIN_NS_DEFAULT, when it was left 0;
 * only then does a wait teach the spinner. */
START_TEST(test_store_spin_choice)
{
    const char *dir = test_dir_make();
    samsa *s = open_spin(dir, 0);
    samsa__spinner sp = {0};
    ck_assert_int_eq(store_spin_ns(s, &sp), SAMSA_SPIN_NS_DEFAULT);
    ck_assert_int_eq(store_spin_ns(s, NULL), SAMSA_SPIN_NS_DEFAULT);
    store_spin_learn(s, &sp, samsa__now_ns() - 50000000); /* 50 ms ago */
    ck_assert_int_eq(store_spin_ns(s, &sp), 0);
    ck_assert_int_eq(atomic_load(&sp.waits), 1);
    E(samsa_close(s));
    test_dir_remove(dir);

    dir = test_dir_make();
    s = open_spin(dir, 5000);
    samsa__spinner fixed = {0};
    store_spin_learn(s, &fixed, samsa__now_ns() - 50000000);
    ck_assert_int_eq(atomic_load(&fixed.waits), 0);
    ck_assert_int_eq(store_spin_ns(s, &fixed), 5000);
    E(samsa_close(s));
    test_dir_remove(dir);

    dir = test_dir_make();
    s = open_spin(dir, -1);
    ck_assert_int_eq(store_spin_ns(s, &sp), 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A cursor of a default store whose records stopped: once it has waited
 * 30 ms in vain, its next wait sleeps at once (counted, with no thread
 * polling), and a produce still reaches it. */
START_TEST(test_default_reader_learns)
{
    const char *dir = test_dir_make();
    samsa *s = open_spin(dir, 0);
    reader r = {.s = s, .timeout_ms = -1};
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &r.c));
    uint64_t begun = samsa__spin_begun();
    EQ_RC(samsa_cursor_next(r.c, &m, 30), SAMSA_ETIMEDOUT);
    ck_assert_uint_eq(samsa__spin_begun(), begun + 1); /* it polled */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, reader_main, &r), 0);
    for (int i = 0; i < 10000 && atomic_load(log_waiters(s)) != 1; i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(log_waiters(s)), 1);
    ck_assert_uint_eq(samsa__spin_begun(), begun + 1); /* not again */
    ck_assert_int_eq(test_produce_str(s, "t", 0, NULL, "z"), 0);
    pthread_join(th, NULL);
    E(r.rc);
    ck_assert_int_eq(r.m.offset, 0);
    E(samsa_cursor_close(r.c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* At most one reader less than the CPUs (at least one) polls at once in
 * a process: with one reader more than that, each polling for a second,
 * the extra one sleeps at once, counted, and a produce reaches them all
 * (on a machine of over 8 CPUs the 8 readers all poll). */
START_TEST(test_spinners_capped)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int slots = cpus > 2 ? (int)cpus - 1 : 1;
    int n = slots + 1 > 8 ? 8 : slots + 1;
    int want_busy = n > slots ? slots : n;
    const char *dir = test_dir_make();
    samsa *s = open_spin(dir, 1000000000);
    reader r[8];
    pthread_t th[8];
    for (int i = 0; i < n; i++) {
        r[i] = (reader){.s = s, .timeout_ms = -1};
        E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &r[i].c));
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    for (int i = 0;
         i < 10000 && (atomic_load(log_waiters(s)) != n - want_busy ||
                       samsa__spin_busy() != want_busy);
         i++)
        usleep(1000);
    ck_assert_int_eq(samsa__spin_busy(), want_busy);
    ck_assert_int_eq(atomic_load(log_waiters(s)), n - want_busy);
    ck_assert_int_eq(test_produce_str(s, "t", 0, NULL, "w"), 0);
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        E(r[i].rc);
        ck_assert_int_eq(r[i].m.offset, 0);
        E(samsa_cursor_close(r[i].c));
    }
    ck_assert_int_eq(samsa__spin_busy(), 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_spin_option_checked)
{
    const char *dir = test_dir_make();
    samsa *s = NULL;
    samsa_options o = {.flags = SAMSA_OPEN_CREATE, .spin_ns = -2};
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    o.spin_ns = 1000000001;
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    ck_assert_ptr_null(s);
    test_dir_remove(dir);
}
END_TEST

Suite *
notify_suite(void)
{
    Suite *su = suite_create("notify");
    TCase *tc = tcase_create("notify");
    tcase_add_test(tc, test_produce_wakes_watcher);
    tcase_add_test(tc, test_notify_unwatched_is_free);
    tcase_add_test(tc, test_wait_times_out);
    tcase_add_test(tc, test_topic_changes_notify);
    tcase_add_test(tc, test_close_wakes_blocked);
    tcase_add_test(tc, test_enter_refused_while_closing);
    tcase_add_test(tc, test_spinning_reader_not_counted);
    tcase_add_test(tc, test_no_spin_sleeps_counted);
    tcase_add_test(tc, test_spin_bounded_by_deadline);
    tcase_add_test(tc, test_spin_option_checked);
    tcase_add_test(tc, test_spinner_policy);
    tcase_add_test(tc, test_store_spin_choice);
    tcase_add_test(tc, test_default_reader_learns);
    tcase_add_test(tc, test_spinners_capped);
    suite_add_tcase(su, tc);
    return su;
}
