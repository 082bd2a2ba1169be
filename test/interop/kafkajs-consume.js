// Consume topics from a Kafka cluster with kafkajs's consumer and print each
// record in test/interop/dump.c's format, topic after topic, in offset
// order.  Reads each partition up to its end at the start.
// Usage: node kafkajs-consume.js HOST:PORT TOPIC...
// The mirror's producer sends uncompressed batches (librdkafka's default),
// so kafkajs needs no codec plugins here.
const { Kafka, logLevel } = require('kafkajs')

const hex = b => (b === null || b === undefined ? '-' : b.length === 0 ? "''" : b.toString('hex'))

;(async () => {
  const [bootstrap, ...topics] = process.argv.slice(2)
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const want = {}
  let left = 0
  for (const t of topics) {
    want[t] = {}
    for (const p of await admin.fetchTopicOffsets(t)) {
      want[t][p.partition] = Number(p.high)
      left += Number(p.high)
    }
  }
  await admin.disconnect()
  const got = Object.fromEntries(topics.map(t => [t, []]))
  const consumer = kafka.consumer({ groupId: 'kafkajs-interop' })
  await consumer.connect()
  for (const t of topics) await consumer.subscribe({ topic: t, fromBeginning: true })
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out, ${left} records missing`)), 60000)
    if (left === 0) { clearTimeout(timer); resolve() }
    consumer.run({
      eachMessage: async ({ topic, partition, message: r }) => {
        if (Number(r.offset) >= want[topic][partition]) return
        const headers = Object.entries(r.headers || {})
          .map(([k, v]) => `${k}=${hex(v)}`).join(',')
        got[topic].push([partition, Number(r.offset),
          `${r.offset} ${r.timestamp} ${hex(r.key)} ${hex(r.value)} ${headers}`])
        if (--left === 0) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  for (const t of topics) {
    got[t].sort((a, b) => a[0] - b[0] || a[1] - b[1])
    for (const [, , line] of got[t]) console.log(line)
  }
})().catch(e => { console.error(e.message); process.exit(1) })
