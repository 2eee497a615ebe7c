// Drives the official TypeScript client @upstash/kafka 1.3.5, unchanged, against a running
// upkafka server, repeating what the client's own test suite proved against Upstash
// (spec §7.6). Run by tests/official_client.rs; reads the three UPSTASH_KAFKA_REST_* variables
// and UPKAFKA_TEST_TOPICS (comma-separated topics that exist, e.g. "green,blue,red").
// Prints one line per check and a closing "N passed, M failed"; exits non-zero on any failure.
import { Kafka, UpstashError } from "@upstash/kafka";
import assert from "node:assert/strict";

const url = process.env.UPSTASH_KAFKA_REST_URL;
const username = process.env.UPSTASH_KAFKA_REST_USERNAME;
const password = process.env.UPSTASH_KAFKA_REST_PASSWORD;
const topics = (process.env.UPKAFKA_TEST_TOPICS ?? "green,blue,red").split(",");
if (!url || !username || !password) {
  console.error("set UPSTASH_KAFKA_REST_URL, UPSTASH_KAFKA_REST_USERNAME and UPSTASH_KAFKA_REST_PASSWORD");
  process.exit(2);
}

const kafka = new Kafka({ url, username, password });
const producer = kafka.producer();
const consumer = kafka.consumer();
const admin = kafka.admin();
const [green, blue, red] = topics;
const run = Date.now().toString(36);

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL - ${name}: ${err?.stack ?? err}`);
  }
}

// The official client retries every failure for ~15 s before rejecting, so the two checks
// that expect a rejection start first and are awaited at the end.
const wrongAuth = new Kafka({ url, username, password: password + "-wrong" }).admin().topics().then(
  () => assert.fail("topics() with a wrong password resolved"),
  (err) => {
    assert.ok(err instanceof UpstashError, `expected UpstashError, got ${err}`);
    assert.equal(err.status, 401);
  },
);
const removeMissing = admin.removeConsumerInstance(`missing-${run}`, "nobody").then(
  () => assert.fail("removing a missing consumer instance resolved"),
  (err) => {
    assert.ok(err instanceof UpstashError, `expected UpstashError, got ${err}`);
    assert.equal(err.status, 404);
  },
);

const unknownTopic = producer.produce(`no-such-topic-${run}`, "x").then(
  () => assert.fail("producing to an unknown topic resolved"),
  (err) => {
    assert.ok(err instanceof UpstashError, `expected UpstashError, got ${err}`);
    assert.equal(err.status, 400);
    assert.match(err.message, /no-such-topic/);
  },
);

await check("admin.topics lists the topics", async () => {
  const t = await admin.topics();
  for (const name of topics) assert.equal(typeof t[name], "number", `topic ${name} in ${JSON.stringify(t)}`);
});

let produced;
await check("produce then fetch returns that message first, identical", async () => {
  const value = `hello-${run}`;
  const headers = [{ key: "signature", value: "abcd" }];
  produced = await producer.produce(green, value, { key: "k1", headers });
  assert.equal(produced.topic, green);
  assert.equal(typeof produced.offset, "number");
  const msgs = await consumer.fetch({ topic: green, partition: produced.partition, offset: produced.offset });
  assert.ok(msgs.length >= 1, "fetch returned nothing");
  assert.equal(msgs[0].value, value);
  assert.equal(msgs[0].key, "k1");
  assert.deepEqual(msgs[0].headers, headers);
  assert.equal(msgs[0].offset, produced.offset);
});

await check("produce serialises non-string values with JSON.stringify", async () => {
  const res = await producer.produce(blue, { device: 7, measure: "pressure", value: 42 });
  const [m] = await consumer.fetch({ topic: blue, partition: res.partition, offset: res.offset });
  assert.deepEqual(JSON.parse(m.value), { device: 7, measure: "pressure", value: 42 });
});

await check("produceMany answers in request order across topics", async () => {
  const res = await producer.produceMany([
    { topic: green, value: "m1" },
    { topic: blue, value: "m2", partition: 0 },
    { topic: red, value: "m3", key: "city" },
  ]);
  assert.equal(res.length, 3);
  assert.deepEqual(res.map((r) => r.topic), [green, blue, red]);
});

await check("fetch in parallel over topicPartitionOffsets", async () => {
  const a = await producer.produce(red, `r-${run}`, { partition: 0 });
  const b = await producer.produce(blue, `b-${run}`, { partition: 0 });
  const msgs = await consumer.fetch({
    topicPartitionOffsets: [
      { topic: red, partition: 0, offset: a.offset },
      { topic: blue, partition: 0, offset: b.offset },
    ],
    timeout: 1000,
  });
  assert.equal(msgs[0].value, `r-${run}`);
  assert.ok(msgs.some((m) => m.value === `b-${run}`));
});

await check("produce with partition and timestamp options keeps both", async () => {
  const ts = Date.now() - 60_000;
  const res = await producer.produce(blue, `ts-${run}`, { partition: 2, timestamp: ts });
  assert.equal(res.partition, 2);
  assert.equal(res.timestamp, ts);
  const [m] = await consumer.fetch({ topic: blue, partition: 2, offset: res.offset });
  assert.equal(m.timestamp, ts);
  assert.equal(m.key, "");
  assert.deepEqual(m.headers, []);
});

await check("produceMany carries keys, headers and partitions per message", async () => {
  const res = await producer.produceMany([
    { topic: red, value: `pm1-${run}`, partition: 1, key: "a", headers: [{ key: "h", value: "1" }] },
    { topic: red, value: { n: 2 }, partition: 1 },
  ]);
  assert.equal(res[1].offset, res[0].offset + 1);
  const msgs = await consumer.fetch({ topic: red, partition: 1, offset: res[0].offset });
  assert.equal(msgs[0].value, `pm1-${run}`);
  assert.equal(msgs[0].key, "a");
  assert.deepEqual(msgs[0].headers, [{ key: "h", value: "1" }]);
  assert.deepEqual(JSON.parse(msgs[1].value), { n: 2 });
});

await check("parallel fetch: topicPartitionOffsets first, the top-level triple last", async () => {
  const a = await producer.produce(green, `first-${run}`, { partition: 1 });
  const b = await producer.produce(red, `last-${run}`, { partition: 2 });
  const msgs = await consumer.fetch({
    topic: red,
    partition: 2,
    offset: b.offset,
    topicPartitionOffsets: [{ topic: green, partition: 1, offset: a.offset }],
  });
  assert.equal(msgs[0].value, `first-${run}`);
  assert.equal(msgs[msgs.length - 1].value, `last-${run}`);
});

await check("fetch with no partition answers [] without a request", async () => {
  assert.deepEqual(await consumer.fetch({}), []);
});

await check("fetch with parallel: false over several topics answers all of them", async () => {
  const a = await producer.produce(green, `np-g-${run}`, { partition: 0 });
  const b = await producer.produce(blue, `np-b-${run}`, { partition: 1 });
  const msgs = await consumer.fetch(
    {
      topicPartitionOffsets: [
        { topic: green, partition: 0, offset: a.offset },
        { topic: blue, partition: 1, offset: b.offset },
      ],
      timeout: 500,
    },
    { parallel: false },
  );
  assert.ok(msgs.some((m) => m.value === `np-g-${run}`), JSON.stringify(msgs));
  assert.ok(msgs.some((m) => m.value === `np-b-${run}`), JSON.stringify(msgs));
});

await check("fetch with parallel: false sends one request", async () => {
  const a = await producer.produce(red, `one-${run}`, { partition: 0 });
  const msgs = await consumer.fetch({ topic: red, partition: 0, offset: a.offset }, { parallel: false });
  assert.equal(msgs[0].value, `one-${run}`);
});

const group = `group-${run}`;
const instance = "instance-1";
let consumed = [];
await check("consume through a group receives produced messages", async () => {
  const value = `consume-${run}`;
  for (let i = 0; i < 30 && !consumed.some((m) => m.value === value); i++) {
    if (i === 0) await producer.produce(green, value);
    const got = await consumer.consume({
      consumerGroupId: group,
      instanceId: instance,
      topics: [green],
      autoOffsetReset: "earliest",
      autoCommit: false,
      timeout: 3000,
    });
    consumed = consumed.concat(got);
  }
  assert.ok(consumed.some((m) => m.value === value), "the produced message never arrived");
});

await check("admin.consumers lists the group, instance and topic", async () => {
  const groups = await admin.consumers();
  const g = groups.find((x) => x.name === group);
  assert.ok(g, `group ${group} missing from ${JSON.stringify(groups)}`);
  const inst = g.instances.find((i) => i.name === instance);
  assert.ok(inst, "instance missing");
  assert.ok(inst.topics.some((t) => t.topic === green && t.partitions.length > 0), JSON.stringify(inst));
});

await check("commit an explicit offset, committed reads exactly it back", async () => {
  const last = consumed[consumed.length - 1];
  const res = await consumer.commit({
    consumerGroupId: group,
    instanceId: instance,
    offset: { topic: last.topic, partition: last.partition, offset: last.offset },
  });
  assert.deepEqual(res, { result: "Success", status: 200 });
  const committed = await consumer.committed({
    consumerGroupId: group,
    instanceId: instance,
    topicPartitions: [{ topic: last.topic, partition: last.partition }],
  });
  assert.equal(committed.length, 1);
  assert.equal(committed[0].offset, last.offset);
});

await check("commit without offsets commits what was consumed", async () => {
  await consumer.commit({ consumerGroupId: group, instanceId: instance });
  const last = consumed[consumed.length - 1];
  const [c] = await admin.committedOffsets({
    consumerGroupId: group,
    instanceId: instance,
    topicPartition: { topic: last.topic, partition: last.partition },
  });
  // Kafka's convention, and upkafka's: the position after the last consumed message.
  assert.equal(c.offset, last.offset + 1, `committed ${c.offset}, last consumed ${last.offset}`);
});

await check("admin.committedOffsets answers one entry per partition", async () => {
  const res = await admin.committedOffsets({
    consumerGroupId: group,
    instanceId: instance,
    topicPartitions: [
      { topic: green, partition: 0 },
      { topic: blue, partition: 0 },
    ],
  });
  assert.equal(res.length, 2);
  for (const r of res) assert.equal(typeof r.offset, "number");
});

await check("admin.topicPartitionOffsets: earliest, latest and a timestamp", async () => {
  const tp = { topic: green, partition: produced.partition };
  const [earliest] = await admin.topicPartitionOffsets({ timestamp: "earliest", topicPartition: tp });
  const [latest] = await admin.topicPartitionOffsets({ timestamp: "latest", topicPartition: tp });
  assert.ok(earliest.offset <= produced.offset && produced.offset < latest.offset, JSON.stringify({ earliest, latest }));
  const atTime = await admin.topicPartitionOffsets({ timestamp: produced.timestamp, topicPartitions: [tp] });
  assert.equal(atTime.length, 1);
  assert.equal(typeof atTime[0].offset, "number");
  assert.ok(atTime[0].offset <= produced.offset);
});

await check("consume several topics with autoCommitInterval, then commit an array", async () => {
  const g = `multi-${run}`;
  const inst = "instance-2";
  const want = new Set([`mt-b-${run}`, `mt-r-${run}`]);
  await producer.produce(blue, `mt-b-${run}`);
  await producer.produce(red, `mt-r-${run}`);
  let got = [];
  for (let i = 0; i < 10 && [...want].some((v) => !got.some((m) => m.value === v)); i++) {
    got = got.concat(
      await consumer.consume({
        consumerGroupId: g,
        instanceId: inst,
        topics: [blue, red],
        autoOffsetReset: "earliest",
        autoCommit: true,
        autoCommitInterval: 1000,
        timeout: 1000,
      }),
    );
  }
  for (const v of want) assert.ok(got.some((m) => m.value === v), `${v} missing`);
  const byTp = new Map();
  for (const m of got) byTp.set(`${m.topic}/${m.partition}`, m);
  const offsets = [...byTp.values()].map((m) => ({ topic: m.topic, partition: m.partition, offset: m.offset + 1 }));
  await consumer.commit({ consumerGroupId: g, instanceId: inst, offset: offsets });
  const back = await consumer.committed({
    consumerGroupId: g,
    instanceId: inst,
    topicPartitions: offsets.map(({ topic, partition }) => ({ topic, partition })),
  });
  assert.deepEqual(
    back.map((o) => `${o.topic}/${o.partition}@${o.offset}`).sort(),
    offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`).sort(),
  );
  await admin.removeConsumerInstance(g, inst);
});

await check("topicPartitionOffsets with a seconds timestamp, as kafka-js's own test sends", async () => {
  // admin.test.ts passes Math.floor(Date.now() / 1000); read as ms that is January 1970, so
  // every record is at or after it and the answer is the first offset.
  const res = await admin.topicPartitionOffsets({
    timestamp: Math.floor(Date.now() / 1000),
    topicPartitions: [
      { topic: blue, partition: 0 },
      { topic: red, partition: 0 },
    ],
  });
  assert.equal(res.length, 2);
  for (const r of res) assert.equal(r.offset, 0, JSON.stringify(res));
});

await check("consume with no settings starts at the end, then receives new messages", async () => {
  const g = `defaults-${run}`;
  const first = await consumer.consume({ consumerGroupId: g, instanceId: "d", topics: [red], timeout: 200 });
  assert.deepEqual(first, [], "an old message was delivered to a new `latest` group");
  const value = `after-join-${run}`;
  await producer.produce(red, value);
  const next = await consumer.consume({ consumerGroupId: g, instanceId: "d", topics: [red], timeout: 1000 });
  assert.deepEqual(next.map((m) => m.value), [value]);
  await admin.removeConsumerInstance(g, "d");
});

await check("group and instance ids with spaces and non-ASCII name one instance", async () => {
  // kafka-js joins path segments unencoded; fetch() percent-encodes them, the server decodes.
  const g = `spaced group ü ${run}`;
  const inst = "host 1 ☃";
  await consumer.consume({ consumerGroupId: g, instanceId: inst, topics: [green], autoCommit: false, timeout: 100 });
  const groups = await admin.consumers();
  const found = groups.find((x) => x.name === g);
  assert.ok(found, `group ${g} missing from ${JSON.stringify(groups)}`);
  assert.deepEqual(found.instances.map((i) => i.name), [inst]);
  await consumer.commit({ consumerGroupId: g, instanceId: inst, offset: { topic: green, partition: 0, offset: 7 } });
  const [c] = await consumer.committed({ consumerGroupId: g, instanceId: inst, topicPartitions: [{ topic: green, partition: 0 }] });
  assert.equal(c.offset, 7);
  await admin.removeConsumerInstance(g, inst);
});

await check("admin.removeConsumerInstance removes it from /consumers", async () => {
  await admin.removeConsumerInstance(group, instance);
  const groups = await admin.consumers();
  const g = groups.find((x) => x.name === group);
  assert.ok(!g || !g.instances.some((i) => i.name === instance), JSON.stringify(groups));
});

await check("a wrong password is rejected with 401", () => wrongAuth);
await check("removing a missing consumer instance is rejected", () => removeMissing);
await check("producing to an unknown topic is rejected with 400 and the server's message", () => unknownTopic);

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
