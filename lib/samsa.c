/*
 * samsa.c - samsa_open(): the store with the services built over it.
 *
 * The store (store.c) knows nothing of the layers above it; it calls the
 * hooks of the services listed here at open, close and topic deletion.
 * This file is the one place that names them all, as the top of the
 * layers: the Kafka listener (listener.c), consumer groups (group.c) and
 * share groups (queue_group.c).
 */
#include "group/group.h"
#include "listener/listener.h"
#include "queue/queue.h"

static const store_service *const services[] = {
    &listener_service, /* closes first: its loop uses the services below */
    &group_service,    /* consumers let go of their cursors */
    &queue_service,
    NULL,
};

int
samsa__open_io(const char *dir, const samsa_options *opt, samsa_io *io,
               samsa **out)
{
    return store_open(dir, opt, io, services, out);
}

SAMSA_API int
samsa_open(const char *dir, const samsa_options *opt, samsa **out)
{
    return samsa__open_io(dir, opt, samsa__io_posix(), out);
}
