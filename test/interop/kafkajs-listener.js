// kafkajs, a Kafka client written in JavaScript that shares no code with
// librdkafka, against `samsa serve`: the admin API creates a topic, the
// producer sends keyed records (acks=all) uncompressed and gzip-compressed,
// a group of two consumers reads every record exactly once and commits,
// the group started again goes on from its committed offsets, and the
// admin API fetches the committed offsets and deletes a topic.  Each check
// prints what it saw; the driver (test/kafkajs.sh) compares the records
// with what samsa's own reader, `samsa consume`, gives.
// Usage: node kafkajs-listener.js HOST:PORT OUT (OUT: the records read,
// "PARTITION OFFSET KEY VALUE" a line, in partition and offset order)
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

const N = 300 // records, in 3 sends: plain, gzip, plain
const PARTITIONS = 3

function fail (msg) { throw new Error(msg) }

// Start a group of `members` consumers of 'js' and wait until they share
// its partitions, each member some, none twice; then produce() and read
// until `want` records came, checking none comes twice.
async function groupConsume (kafka, groupId, members, want, produce) {
  const seen = new Map()
  const consumers = []
  const assigned = new Map() // member index -> its partitions, as last joined
  let left = want
  let shared
  const split = new Promise(resolve => { shared = resolve })
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out, ${left} records missing`)), 60000)
    for (let i = 0; i < members; i++) {
      const c = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 })
      consumers.push(c)
      c.on(c.events.GROUP_JOIN, e => {
        assigned.set(i, e.payload.memberAssignment.js || [])
        const all = [...assigned.values()].flat().sort()
        if (assigned.size === members && [...assigned.values()].every(p => p.length > 0) &&
            all.join() === [...Array(PARTITIONS).keys()].join()) shared()
      })
      c.connect()
        .then(() => c.subscribe({ topic: 'js', fromBeginning: true }))
        .then(() => c.run({
          eachMessage: async ({ partition, message: r }) => {
            const id = `${partition}/${r.offset}`
            if (seen.has(id)) reject(new Error(`record ${id} delivered twice`))
            seen.set(id, `${partition} ${r.offset} ${r.key.toString()} ${r.value.toString()}`)
            if (--left === 0) { clearTimeout(timer); resolve() }
          }
        }))
        .catch(reject)
    }
  })
  await Promise.race([split, done])
  const split_ = [...assigned.values()].map(p => p.length).sort().join('+')
  await produce()
  await done
  // Each member commits what it read as it leaves the group.
  await Promise.all(consumers.map(c => c.disconnect()))
  return { seen, split: split_ }
}

async function resume (kafka, groupId) {
  const c = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 })
  const got = []
  await c.connect()
  await c.subscribe({ topic: 'js', fromBeginning: true })
  const joined = new Promise(resolve => c.on(c.events.GROUP_JOIN, resolve))
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`resume timed out with ${got.length} records`)), 30000)
    c.run({
      eachMessage: async ({ partition, message: r }) => {
        got.push(`${partition} ${r.offset} ${r.key.toString()} ${r.value.toString()}`)
        if (got.length === PARTITIONS) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await joined
  const p = kafka.producer()
  await p.connect()
  const messages = []
  for (let i = 0; i < PARTITIONS; i++) messages.push({ partition: i, key: `k-new-${i}`, value: `after ${i}` })
  await p.send({ topic: 'js', acks: -1, messages })
  await p.disconnect()
  await done
  await c.disconnect()
  return got.sort()
}

;(async () => {
  const [bootstrap] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: 'samsa-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } })

  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({ topics: [{ topic: 'js', numPartitions: PARTITIONS }, { topic: 'gone', numPartitions: 1 }] })
  if (created !== true) fail('createTopics: topics not created')
  const meta = await admin.fetchTopicMetadata({ topics: ['js'] })
  if (meta.topics[0].partitions.length !== PARTITIONS) fail(`metadata: ${JSON.stringify(meta)}`)

  const kinds = [CompressionTypes.None, CompressionTypes.GZIP, CompressionTypes.None]
  const produce = async () => {
    const producer = kafka.producer()
    await producer.connect()
    for (let s = 0; s < kinds.length; s++) {
      const messages = []
      for (let i = s * (N / 3); i < (s + 1) * (N / 3); i++) messages.push({ partition: i % PARTITIONS, key: `k${i}`, value: `value ${i}` })
      const res = await producer.send({ topic: 'js', acks: -1, compression: kinds[s], messages })
      for (const r of res) if (r.errorCode !== 0) fail(`produce: ${JSON.stringify(r)}`)
    }
    await producer.disconnect()
  }
  const { seen, split } = await groupConsume(kafka, 'jsgroup', 2, N, produce)
  if (split !== '1+2') fail(`the group of 2 split 3 partitions as ${split}`)
  const lines = [...seen.values()]
  console.log(`produced ${N} records (a third gzip-compressed, acks=all) to a group of 2 sharing the partitions ${split}: each read once`)

  const offsets = await admin.fetchOffsets({ groupId: 'jsgroup', topics: ['js'] })
  const committed = offsets[0].partitions.map(p => `${p.partition}:${p.offset}`).sort().join(' ')
  if (committed !== '0:100 1:100 2:100') fail(`committed offsets: ${committed}`)
  console.log(`committed: ${committed}`)

  // The group again: it must go on from the committed offsets, so the
  // first records it gets are three produced now, at offset 100 of each
  // partition, and none of the 300 read before.
  const resumed = await resume(kafka, 'jsgroup')
  if (resumed.join(',') !== '0 100 k-new-0 after 0,1 100 k-new-1 after 1,2 100 k-new-2 after 2') fail(`resumed: ${resumed.join(',')}`)
  lines.push(...resumed)
  console.log('the group resumed at the committed offsets')

  await admin.deleteTopics({ topics: ['gone'] })
  const left = await admin.listTopics()
  if (left.includes('gone') || !left.includes('js')) fail(`listTopics after delete: ${left}`)
  console.log('deleted a topic')
  await admin.disconnect()
  lines.sort((a, b) => {
    const [pa, oa] = a.split(' ').map(Number); const [pb, ob] = b.split(' ').map(Number)
    return pa - pb || oa - ob
  })
  require('fs').writeFileSync(process.argv[3], lines.join('\n') + '\n')
})().catch(e => { console.error(`kafkajs-listener: ${e.message}`); process.exit(1) })
