// Decode samsa segment files with kafkajs's own record batch v2 decoder,
// check every batch's CRC-32C with kafkajs's CRC code, and print each record
// in test/interop/dump.c's format.  Usage: node kafkajs-decode.js FILE.log...
const fs = require('fs')
const Decoder = require('kafkajs/src/protocol/decoder')
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C')

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
