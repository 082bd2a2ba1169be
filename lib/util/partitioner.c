/*
 * partitioner.c - Kafka's murmur2 and the default partitioner built on it.
 *
 * A keyed record must land on the partition a Kafka client would pick, or
 * data moved to a cluster would break per-key ordering.  Kafka's
 * Utils.murmur2 is MurmurHash2 with seed 0x9747b28c over the key read as
 * little-endian words, returned as a Java int; the partition is
 * toPositive(hash) % partitions, as librdkafka's murmur2 partitioners do.
 */
#include "samsa_int.h"

/* Java's int arithmetic wraps, so the hash is computed in uint32_t, where
 * wrapping is defined in C too. */
static uint32_t
murmur2(const unsigned char *p, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;

    for (size_t n = len / 4; n > 0; n--, p += 4) {
        uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    /* The tail falls through like the Java switch. */
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)p[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)p[1] << 8;
        /* fall through */
    case 1:
        h ^= p[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t
samsa__murmur2(const void *key, size_t len)
{
    uint32_t h = murmur2(key, len);

    /* Reinterpret as two's complement without the implementation-defined
     * conversion of an out-of-range value to a signed type. */
    if (h <= INT32_MAX)
        return (int32_t)h;
    return (int32_t)(h - 0x80000000u) - INT32_MAX - 1;
}

SAMSA_API int32_t
samsa_partition_for_key(const void *key, size_t key_len, int32_t partitions)
{
    /* Kafka keys are byte arrays, at most INT32_MAX long. */
    if (partitions < 1 || (key == NULL && key_len > 0) || key_len > INT32_MAX)
        return SAMSA_EINVAL;
    if (partitions == 1) /* every key's: no need to hash it */
        return 0;
    /* toPositive() clears the sign bit; it does not negate, so the result
     * differs from abs() for negative hashes, as Kafka's does. */
    return (int32_t)((murmur2(key, key_len) & 0x7fffffffu) %
                     (uint32_t)partitions);
}
