/*
 * systems.h - the systems the benchmark programs run the standard
 * workloads over, one bench_sys table each (see bench.h).  Each mode of a
 * system (with or without sync, ...) is its own table, so that it is its
 * own line of figures.
 */
#ifndef SAMSA_BENCH_SYSTEMS_H
#define SAMSA_BENCH_SYSTEMS_H

#include "bench.h"

extern bench_sys bench_samsa, bench_samsa_sync;             /* sys_samsa.c  */
extern bench_sys bench_samsa_async, bench_samsa_async_sync; /* idem        */
extern bench_sys bench_lmdb, bench_lmdb_sync;               /* sys_lmdb.c   */
extern bench_sys bench_sqlite_normal, bench_sqlite_full;    /* sys_sqlite.c */
extern bench_sys bench_redis_everysec, bench_redis_always;  /* sys_redis.c */
extern bench_sys bench_nats_ack, bench_nats_async;          /* sys_nats.c   */
extern bench_sys bench_kafka_mock;                          /* sys_kafka.c  */
extern bench_sys bench_zmq;                                 /* sys_zmq.c    */

#endif
