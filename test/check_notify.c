/*
 * check_notify.c - the store-wide wake-up and the closing gate (notify.c)
 * that consumer-group polls and queue receives block on.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

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
        rc = store_wait(b->s, seen, samsa__deadline_after(b->timeout_ms));
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
    E(store_wait(s, seen, -1)); /* already moved: no sleep */
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
    EQ_RC(store_wait(s, seen, samsa__deadline_after(20)), SAMSA_ETIMEDOUT);
    EQ_RC(store_wait(s, seen, samsa__deadline_after(0)), SAMSA_ETIMEDOUT);
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
    EQ_RC(store_wait(s, seen, -1), SAMSA_ECLOSED); /* never sleeps */
    store_unwatch(s);
    E(samsa_close(s));
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
    suite_add_tcase(su, tc);
    return su;
}
