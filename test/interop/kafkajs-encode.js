// Write a Kafka partition's log with kafkajs's own record batch v2 encoder,
// as a Kafka broker keeps it after compaction: the log starts at offset
// 1000, batches are uncompressed, gzip (kafkajs's own), snappy (raw) and
// lz4 (Kafka's frame format) compressed, and offsets have gaps both between
// batches and inside them (records a cleaner removed, the batch keeping its
// base offset and last offset delta), with tombstones (null values), null
// keys and headers.  Prints each record as `samsa consume -f '%o %T %K:%k
// %S:%s %h\n'` must print it after `samsa adopt`.
// Usage: node kafkajs-encode.js DIR   (writes DIR/00000000000000001000.log)
const fs = require('fs')
const path = require('path')
const Long = require('kafkajs/src/utils/long')
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0')
const Record = require('kafkajs/src/protocol/recordBatch/record/v0')
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const snappy = require('snappyjs')
const lz4 = require('lz4js')

const plugin = compress => () => ({
  compress: async encoder => Buffer.from(compress(encoder.buffer)),
  decompress: async () => { throw new Error('encode only') }
})
CompressionCodecs[CompressionTypes.Snappy] = plugin(b => snappy.compress(b))
CompressionCodecs[CompressionTypes.LZ4] = plugin(b => lz4.compress(b))

const T0 = 1733300000000
const expect = []
const str = b => (b === null ? '-1:' : `${Buffer.byteLength(b)}:${b}`)

// One batch: `recs` as [offsetDelta, key, value, headers], base offset
// `base`, its last offset delta `last` (at least the last record's).
async function batch (compression, base, last, recs) {
  const records = recs.map(([d, key, value, headers = {}]) => {
    expect.push(`${base + d} ${T0 + d} ${str(key)} ${str(value)} ` +
      Object.entries(headers).map(([k, v]) => `${k}=${v}`).join(','))
    return Record({
      offsetDelta: d,
      timestampDelta: d,
      key: key === null ? null : Buffer.from(key),
      value: value === null ? null : Buffer.from(value),
      headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)]))
    })
  })
  const enc = await RecordBatch({
    compression,
    firstOffset: Long.fromValue(base),
    firstTimestamp: T0,
    maxTimestamp: T0 + recs[recs.length - 1][0],
    lastOffsetDelta: last,
    records
  })
  return enc.buffer
}

;(async () => {
  const dir = process.argv[2]
  fs.mkdirSync(dir, { recursive: true })
  const parts = [
    // Whole: 1000-1004.
    await batch(CompressionTypes.None, 1000, 4, [[0, 'a', 'one'], [1, 'b', 'two'], [2, null, 'no key'], [3, 'c', ''], [4, 'd', 'four', { h: 'x', trace: 'id-7' }]]),
    // 1005-1006 gone (a whole batch cleaned away); gzip, a record removed
    // inside (1008) and the last (1010) too, lastOffsetDelta kept.
    await batch(CompressionTypes.GZIP, 1007, 3, [[0, 'e', 'gz one'], [2, 'f', null]]),
    // snappy (raw), one record left of a batch of five.
    await batch(CompressionTypes.Snappy, 1011, 4, [[2, 'g', 'snappy']]),
    // lz4 frame, a tombstone and headers.
    await batch(CompressionTypes.LZ4, 1020, 2, [[0, 'h', 'lz4 one', { k: 'v' }], [1, 'i', null], [2, 'j', 'lz4 three']])
  ]
  fs.writeFileSync(path.join(dir, '00000000000000001000.log'), Buffer.concat(parts))
  for (const line of expect) console.log(line)
})().catch(e => { console.error(`kafkajs-encode: ${e.message}`); process.exit(1) })
