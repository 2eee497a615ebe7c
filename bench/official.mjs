// The official client's side of bench/compare.sh: @upstash/kafka 1.3.5 (installed by
// `npm ci` in tests/node) producing with `produceMany`, the same workload as
// `examples/load.rs produce`: BATCH messages of SIZE bytes per request, CONCURRENCY
// requests in flight, MESSAGES in total. Prints the same `RESULT key=value ...` line,
// with this process's CPU time from process.cpuUsage().
//
//   UPSTASH_KAFKA_REST_URL=http://127.0.0.1:8080 TOPIC=t node bench/official.mjs
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
const topic = env("TOPIC", `bench-node-${Date.now()}`);
const size = Number(env("SIZE", "100"));
const batch = Number(env("BATCH", "500"));
const concurrency = Number(env("CONCURRENCY", "4"));
const messages = Number(env("MESSAGES", "200000"));

const producer = new Kafka({ url, username, password }).producer();
const value = "x".repeat(size);
const records = Array.from({ length: batch }, () => ({ topic, value }));
const batches = Math.ceil(messages / batch);

// One untimed request so that connection setup and JIT warm-up are not measured... much.
await producer.produceMany(records);

let next = 0;
const latencies = [];
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
async function worker() {
  while (next++ < batches) {
    const t = process.hrtime.bigint();
    const meta = await producer.produceMany(records);
    latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (meta.length !== batch) throw new Error(`${meta.length} acks for ${batch} messages`);
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
const total = batches * batch;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length, Math.max(1, Math.ceil(p * latencies.length))) - 1];
const r = {
  mode: "produce-official",
  messages: total,
  seconds: secs.toFixed(3),
  msgs_per_s: (total / secs).toFixed(0),
  mb_per_s: ((total * size) / secs / 1e6).toFixed(2),
  p50_ms: pct(0.5).toFixed(3),
  p99_ms: pct(0.99).toFixed(3),
  max_ms: pct(1).toFixed(3),
  cpu_s: cpuS.toFixed(2),
  cpu_us_per_msg: ((cpuS * 1e6) / total).toFixed(3),
};
console.log(
  `produce (@upstash/kafka): ${total} messages in ${r.seconds} s = ${r.msgs_per_s} msg/s; ` +
    `request latency p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms; CPU ${r.cpu_s} s = ${r.cpu_us_per_msg} µs/msg`,
);
console.log("RESULT " + Object.entries(r).map(([k, v]) => `${k}=${v}`).join(" "));
