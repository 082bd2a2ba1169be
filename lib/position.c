/*
 * position.c - where a member reads: its assignment, the position of each
 * owned partition, seeks, and pauses.
 *
 * Each owned partition's position is its cursor's offset, so a seek is a
 * cursor seek and the position a later commit writes is wherever the seek
 * left it.  All of these act only on partitions the member owns now
 * (SAMSA_ENOTASSIGNED otherwise) and do not wait; like every consumer call
 * they enter the store first (consumer_enter), so samsa_close() cannot
 * free the cursors under them.
 */
#include "group.h"

/* Enter c and find an owned partition: 0 with *o set (then leave after),
 * or the error (then nothing to leave). */
static int
enter_owned(samsa_consumer *c, const char *name, int32_t partition, owned **o)
{
    if (c == NULL || name == NULL)
        return SAMSA_EINVAL;
    int rc = consumer_enter(c);
    if (rc != 0)
        return rc;
    *o = consumer_find(c, name, partition);
    if (*o != NULL && !(*o)->deleted)
        return 0;
    consumer_leave(c);
    return SAMSA_ENOTASSIGNED;
}

SAMSA_API int
samsa_consumer_assignment(samsa_consumer *c, samsa_topic_partition *parts,
                          size_t cap, size_t *n)
{
    if (c == NULL || n == NULL || (parts == NULL && cap > 0))
        return SAMSA_EINVAL;
    int rc = consumer_enter(c);
    if (rc != 0)
        return rc;
    *n = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        const owned *o = &c->parts[i];
        if (o->deleted)
            continue;
        if (*n < cap)
            parts[*n] = (samsa_topic_partition){o->topic, o->partition,
                                                samsa_cursor_offset(o->cur)};
        ++*n;
    }
    consumer_leave(c);
    return 0;
}

SAMSA_API int
samsa_consumer_position(samsa_consumer *c, const char *topic_name,
                        int32_t partition, int64_t *offset)
{
    owned *o;
    if (offset == NULL)
        return SAMSA_EINVAL;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    *offset = samsa_cursor_offset(o->cur);
    consumer_leave(c);
    return 0;
}

SAMSA_API int
samsa_consumer_seek(samsa_consumer *c, const char *topic_name,
                    int32_t partition, int64_t offset)
{
    owned *o;
    if (offset < SAMSA_OFFSET_BEGINNING)
        return SAMSA_EINVAL;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    rc = samsa_cursor_seek(o->cur, offset);
    consumer_leave(c);
    return rc;
}

SAMSA_API int
samsa_consumer_seek_time(samsa_consumer *c, const char *topic_name,
                         int32_t partition, int64_t timestamp_ms)
{
    owned *o;
    if (timestamp_ms < 0)
        return SAMSA_EINVAL;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    rc = samsa_cursor_seek_time(o->cur, timestamp_ms);
    consumer_leave(c);
    return rc;
}

static int
set_paused(samsa_consumer *c, const char *topic_name, int32_t partition,
           bool paused)
{
    owned *o;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    o->paused = paused;
    consumer_leave(c);
    return 0;
}

SAMSA_API int
samsa_consumer_pause(samsa_consumer *c, const char *topic_name,
                     int32_t partition)
{
    return set_paused(c, topic_name, partition, true);
}

SAMSA_API int
samsa_consumer_resume(samsa_consumer *c, const char *topic_name,
                      int32_t partition)
{
    return set_paused(c, topic_name, partition, false);
}
