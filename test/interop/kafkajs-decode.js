// Decode samsa segment files with kafkajs's own record batch v2 decoder
// (compressed batches too),
// check every batch's CRC-32C with kafkajs's CRC code, and print each record
// in test/interop/dump.c's format.  Usage: node kafkajs-decode.js FILE.log...
const fs = require('fs')
const Decoder = require('kafkajs/src/protocol/decoder')
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C')

// kafkajs decodes gzip itself and takes the other codecs as plugins
// (CompressionCodecs); these are pure-JavaScript decoders of the same
// formats, so nothing native is built.  Snappy comes in xerial's framing
// from Kafka's Java client and samsa: a 16-byte header, then blocks each
// with a 32-bit big-endian length.
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const snappy = require('snappyjs')
const lz4 = require('lz4js')
const fzstd = require('fzstd')
const xerial = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0])
const unsnappy = buf => {
  if (buf.length < 16 || !buf.subarray(0, 8).equals(xerial)) return Buffer.from(snappy.uncompress(buf))
  const parts = []
  for (let pos = 16; pos < buf.length;) {
    const n = buf.readUInt32BE(pos)
    parts.push(Buffer.from(snappy.uncompress(buf.subarray(pos + 4, pos + 4 + n))))
    pos += 4 + n
  }
  return Buffer.concat(parts)
}
const plugin = decompress => () => ({
  compress: async () => { throw new Error('decode only') },
  decompress: async buf => decompress(buf)
})
CompressionCodecs[CompressionTypes.Snappy] = plugin(unsnappy)
CompressionCodecs[CompressionTypes.LZ4] = plugin(b => Buffer.from(lz4.decompress(b)))
CompressionCodecs[CompressionTypes.ZSTD] = plugin(b => Buffer.from(fzstd.decompress(b)))

const hex = b => (b === null ? '-' : b.length === 0 ? "''" : b.toString('hex'))

async function decodeFile (path) {
  const buf = fs.readFileSync(path)
  let pos = 0
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw new Error(`${path}: trailing bytes at ${pos}`)
    const whole = buf.subarray(pos, pos + 12 + buf.readInt32BE(pos + 8))
    if (crc32C(whole.subarray(21)) !== whole.readUInt32BE(17)) {
      throw new Error(`${path}: CRC mismatch in the batch at ${pos}`)
    }
    const batch = await decodeBatch(new Decoder(whole))
    for (const r of batch.records) {
      const headers = Object.entries(r.headers)
        .map(([k, v]) => `${k}=${hex(v)}`).join(',')
      console.log(`${r.offset} ${r.timestamp} ${hex(r.key)} ${hex(r.value)} ${headers}`)
    }
    pos += whole.length
  }
}

;(async () => {
  for (const f of process.argv.slice(2)) await decodeFile(f)
})().catch(e => { console.error(e.message); process.exit(1) })
