/*
 * state.c - the mirror's state file (the format and its crash reasoning
 * are in bridge.h), and the librdkafka helpers the bridge's files share.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

int
bridge_fail(bridge_err *e, int rc, const char *fmt, ...)
{
    if (e->rc != 0)
        return e->rc;
    e->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return rc;
}

int
bridge_code(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return SAMSA_ETIMEDOUT;
    default:
        return SAMSA_EIO;
    }
}

rd_kafka_conf_t *
bridge_conf(const char *bootstrap, const char *const *extra, bridge_err *e)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* librdkafka logs every lost connection at level 3 and above; the
     * caller learns of errors through return codes and on_error. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                          sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
        bridge_fail(e, SAMSA_EINVAL, "bootstrap %s: %s", bootstrap, err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        char name[256];
        const char *eq = strchr(extra[i], '=');
        size_t len = eq != NULL ? (size_t)(eq - extra[i]) : 0;
        if (len == 0 || len >= sizeof name) {
            bridge_fail(e, SAMSA_EINVAL, "%s: not name=value", extra[i]);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
        memcpy(name, extra[i], len);
        name[len] = '\0';
        if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            bridge_fail(e, SAMSA_EINVAL, "%s: %s", extra[i], err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

int
bridge_partitions(rd_kafka_t *rk, const char *topic, int *n, bridge_err *e)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk, 1, NULL, &md, BRIDGE_REQUEST_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return bridge_fail(e, bridge_code(err), "Kafka metadata: %s",
                           rd_kafka_err2str(err));
    *n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 &&
            md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            *n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return 0;
}

void
bridge_admin_begin(rd_kafka_t *rk, rd_kafka_admin_op_t op, bridge_admin *a)
{
    char err[256];
    a->opt = rd_kafka_AdminOptions_new(rk, op);
    /* The operation timeout applies only to the operations that have one
     * (CreateTopics); the others refuse it, which changes nothing. */
    rd_kafka_AdminOptions_set_request_timeout(a->opt, BRIDGE_REQUEST_MS, err,
                                              sizeof err);
    rd_kafka_AdminOptions_set_operation_timeout(a->opt, BRIDGE_REQUEST_MS, err,
                                                sizeof err);
    a->q = rd_kafka_queue_new(rk);
}

void
bridge_admin_end(bridge_admin *a)
{
    rd_kafka_queue_destroy(a->q);
    rd_kafka_AdminOptions_destroy(a->opt);
}

rd_kafka_event_t *
bridge_admin_result(bridge_admin *a, const char *what, bridge_err *e)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(a->q, 2 * BRIDGE_REQUEST_MS);
    if (ev == NULL) {
        bridge_fail(e, SAMSA_ETIMEDOUT, "%s: no answer", what);
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bridge_fail(e, bridge_code(rd_kafka_event_error(ev)), "%s: %s", what,
                    rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        ev = NULL;
    }
    return ev;
}

/* ---- the state file --------------------------------------------------- */

state_entry *
state_find(mirror_state *st, const char *topic, int32_t p)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->e[i].partition == p && strcmp(st->e[i].topic, topic) == 0)
            return &st->e[i];
    return NULL;
}

int
state_reserve(mirror_state *st, size_t more)
{
    if (st->n + more <= st->cap)
        return 0;
    size_t cap = st->cap ? st->cap : 16;
    while (cap < st->n + more)
        cap *= 2;
    state_entry *e = realloc(st->e, cap * sizeof *e);
    if (e == NULL)
        return SAMSA_ENOMEM;
    st->e = e;
    st->cap = cap;
    return 0;
}

state_entry *
state_add(mirror_state *st, const char *topic, int32_t p)
{
    if (state_reserve(st, 1) != 0)
        return NULL;
    char *name = strdup(topic);
    if (name == NULL)
        return NULL;
    state_entry *e = &st->e[st->n++];
    *e = (state_entry){.topic = name, .partition = p};
    return e;
}

void
state_free(mirror_state *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->e[i].topic);
    free(st->e);
    *st = (mirror_state){0};
}

int
state_load(const char *path, mirror_state *st)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT ? 0 : -errno;
    char line[SAMSA_MAX_TOPIC_NAME + 128];
    int rc = 0;
    if (fgets(line, sizeof line, f) == NULL ||
        strcmp(line, "samsa-mirror 1\n") != 0)
        rc = SAMSA_EINVAL;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        char topic[SAMSA_MAX_TOPIC_NAME + 1];
        int32_t p;
        int64_t v[4];
        char end;
        if (sscanf(line,
                   "%249s %" SCNd32 " %" SCNd64 " %" SCNd64 " %" SCNd64
                   " %" SCNd64 "%c",
                   topic, &p, &v[0], &v[1], &v[2], &v[3], &end) != 7 ||
            end != '\n' || p < 0 || v[0] < 0 || v[1] < 0 || v[2] < v[0] ||
            v[3] < v[1] || state_find(st, topic, p) != NULL) {
            rc = SAMSA_EINVAL;
            break;
        }
        state_entry *e = state_add(st, topic, p);
        if (e == NULL) {
            rc = SAMSA_ENOMEM;
            break;
        }
        e->s_base = v[0];
        e->k_base = v[1];
        e->s_acked = v[2];
        e->k_acked = v[3];
    }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    fclose(f);
    return rc;
}

/* fsync of the directory holding path, so that a rename in it is
 * durable. */
static int
sync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int
state_save(const char *path, const mirror_state *st)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    fputs("samsa-mirror 1\n", f);
    for (size_t i = 0; i < st->n; i++) {
        const state_entry *e = &st->e[i];
        fprintf(f,
                "%s %" PRId32 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                "\n",
                e->topic, e->partition, e->s_base, e->k_base, e->s_acked,
                e->k_acked);
    }
    int rc = 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return sync_dir_of(path);
}
