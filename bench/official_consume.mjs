// The official client's consume side of bench/consume.sh and bench/compare.sh: @upstash/kafka
// 1.3.5 (installed by `npm ci` in tests/node) draining TOPIC through a consumer group the way
// `upkafka consume` does: auto-commit off, `consume` (the server's poll size), then `commit` of
// the next offset of each partition the poll returned, after each poll, until MESSAGES have
// come back. The messages are not written anywhere. Prints the same `RESULT key=value ...`
// line as examples/load.rs, with this process's CPU time from process.cpuUsage().
//
//   UPSTASH_KAFKA_REST_URL=http://127.0.0.1:8080 TOPIC=t MESSAGES=500000 node bench/official_consume.mjs
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "tests", "node", "package.json"));
const { Kafka } = require("@upstash/kafka");

const env = (name, dflt) => process.env[name] ?? dflt;
const url = env("UPSTASH_KAFKA_REST_URL", "http://127.0.0.1:8080");
const username = env("UPSTASH_KAFKA_REST_USERNAME", "bench");
const password = env("UPSTASH_KAFKA_REST_PASSWORD", "bench");
const topic = env("TOPIC", "bench");
const group = env("GROUP", `${topic}-node`);
const instance = env("INSTANCE", "node-1");
const messages = Number(env("MESSAGES", "500000"));
const timeout = Number(env("POLL_TIMEOUT_MS", "1000"));

const consumer = new Kafka({ url, username, password }).consumer();
const req = {
  consumerGroupId: group,
  instanceId: instance,
  topics: [topic],
  timeout,
  autoCommit: false,
  autoOffsetReset: "earliest",
};

let got = 0;
let bytes = 0;
let empty = 0;
const latencies = [];
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
while (got < messages) {
  const t = process.hrtime.bigint();
  const batch = await consumer.consume(req);
  if (batch.length === 0) {
    if (++empty > 5) throw new Error(`only ${got} of ${messages} messages came back`);
    continue;
  }
  // The next offset to read of each partition in this poll, as `upkafka consume` commits.
  const next = new Map();
  for (const m of batch) {
    bytes += m.value.length;
    const k = `${m.partition}`;
    const o = next.get(k);
    if (o === undefined || m.offset + 1 > o.offset) {
      next.set(k, { topic: m.topic, partition: m.partition, offset: m.offset + 1 });
    }
  }
  await consumer.commit({ consumerGroupId: group, instanceId: instance, offset: [...next.values()] });
  latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  got += batch.length;
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length, Math.max(1, Math.ceil(p * latencies.length))) - 1];
const r = {
  mode: "consume-official",
  messages: got,
  seconds: secs.toFixed(3),
  msgs_per_s: (got / secs).toFixed(0),
  mb_per_s: (bytes / secs / 1e6).toFixed(2),
  p50_ms: pct(0.5).toFixed(3),
  p99_ms: pct(0.99).toFixed(3),
  max_ms: pct(1).toFixed(3),
  cpu_s: cpuS.toFixed(2),
  cpu_us_per_msg: ((cpuS * 1e6) / got).toFixed(3),
};
console.log(
  `consume+commit (@upstash/kafka): ${got} messages in ${r.seconds} s = ${r.msgs_per_s} msg/s; ` +
    `poll+commit latency p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms; CPU ${r.cpu_s} s = ${r.cpu_us_per_msg} µs/msg`,
);
console.log("RESULT " + Object.entries(r).map(([k, v]) => `${k}=${v}`).join(" "));
try {
  await consumer.commit({ consumerGroupId: group, instanceId: instance });
} catch {
  // Only tidiness; the measurement is done.
}
