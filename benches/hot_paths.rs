//! Micro-benchmarks of the hot paths (issue 6): the client's produce-batch encoding and
//! consume-response decoding, the server's JSON in/out of those same bodies, and the embedded
//! log's append (in memory and fsynced) and read paths.
//!
//! Run with `cargo bench --bench hot_paths`; `cargo bench --no-run` only builds it (CI).
//! Load over HTTP is measured by `examples/load.rs` and `bench/compare.sh`, not here.

// `criterion_main!` generates an undocumented `pub fn main`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use upkafka_protocol::{Message, ProduceMetadata, ProduceRecord, TopicPartitionOffset};
use upkafka_server::LogOptions;
use upkafka_server::{Backend, EmbeddedBackend, EmbeddedOptions, IdempotencyKey, TopicSpec};

/// The batch the targets are stated for: 500 messages of 100 bytes.
const BATCH: usize = 500;
const VALUE_BYTES: usize = 100;
const TOPIC: &str = "bench";

fn value(i: usize) -> String {
    let mut v = format!("{i:08}-");
    while v.len() < VALUE_BYTES {
        v.push('x');
    }
    v
}

/// A produce batch as the client sends it to `/produce/{topic}` (no topic per record).
fn records() -> Vec<ProduceRecord> {
    (0..BATCH).map(|i| ProduceRecord::new(value(i))).collect()
}

/// The same batch as the server's backend receives it (topic filled in from the path).
fn records_with_topic() -> Vec<ProduceRecord> {
    (0..BATCH)
        .map(|i| ProduceRecord::new(value(i)).topic(TOPIC))
        .collect()
}

fn messages() -> Vec<Message> {
    (0..BATCH)
        .map(|i| Message {
            topic: TOPIC.to_owned(),
            partition: 0,
            offset: 1_000_000 + i as i64,
            timestamp: 1_764_000_000_000 + i as i64,
            key: String::new(),
            value: value(i),
            headers: Vec::new(),
            tombstone: false,
        })
        .collect()
}

fn metadata() -> Vec<ProduceMetadata> {
    (0..BATCH)
        .map(|i| ProduceMetadata {
            topic: TOPIC.to_owned(),
            partition: 0,
            offset: 1_000_000 + i as i64,
            timestamp: 1_764_000_000_000,
        })
        .collect()
}

fn options(data_dir: Option<std::path::PathBuf>) -> EmbeddedOptions {
    EmbeddedOptions {
        log: LogOptions {
            data_dir,
            ..LogOptions::default()
        },
        topics: vec![TopicSpec::new(TOPIC, 1)],
        ..EmbeddedOptions::default()
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a Tokio runtime: {e}"))
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("json_500x100B");
    g.throughput(Throughput::Elements(BATCH as u64));

    let recs = records();
    g.bench_function("client_encode_produce_batch", |b| {
        b.iter(|| serde_json::to_vec(black_box(&recs)).map(|v| v.len()))
    });
    let body = serde_json::to_vec(&recs).unwrap_or_default();
    g.bench_function("server_decode_produce_batch", |b| {
        b.iter(|| serde_json::from_slice::<Vec<ProduceRecord>>(black_box(&body)).map(|v| v.len()))
    });
    let meta = metadata();
    g.bench_function("server_encode_produce_answer", |b| {
        b.iter(|| serde_json::to_vec(black_box(&meta)).map(|v| v.len()))
    });
    let meta_body = serde_json::to_vec(&meta).unwrap_or_default();
    g.bench_function("client_decode_produce_answer", |b| {
        b.iter(|| {
            serde_json::from_slice::<Vec<ProduceMetadata>>(black_box(&meta_body)).map(|v| v.len())
        })
    });
    let msgs = messages();
    g.bench_function("server_encode_consume_answer", |b| {
        b.iter(|| serde_json::to_vec(black_box(&msgs)).map(|v| v.len()))
    });
    let msgs_body = serde_json::to_vec(&msgs).unwrap_or_default();
    g.bench_function("client_decode_consume_answer", |b| {
        b.iter(|| serde_json::from_slice::<Vec<Message>>(black_box(&msgs_body)).map(|v| v.len()))
    });
    // What the server and the client use since issue 19: the protocol's direct encoder and
    // decoder (the same bytes and values as the two serde rows above).
    g.bench_function("server_encode_consume_answer_direct", |b| {
        b.iter(|| upkafka_protocol::messages_to_vec(black_box(&msgs)).len())
    });
    g.bench_function("client_decode_consume_answer_direct", |b| {
        b.iter(|| upkafka_protocol::decode_messages(black_box(&msgs_body)).map(|v| v.len()))
    });
    g.finish();
}

/// Times `iters` produce calls of one batch each, on backends that are replaced (untimed)
/// every `per_backend` calls so that an in-memory log does not grow without bound.
fn time_appends(
    rt: &Runtime,
    iters: u64,
    per_backend: u64,
    make: &dyn Fn() -> (EmbeddedBackend, Option<tempfile::TempDir>),
) -> Duration {
    time_appends_keyed(rt, iters, per_backend, false, make)
}

/// [`time_appends`], each call with a fresh `Idempotency-Key` when `keyed` (issue 16).
fn time_appends_keyed(
    rt: &Runtime,
    iters: u64,
    per_backend: u64,
    keyed: bool,
    make: &dyn Fn() -> (EmbeddedBackend, Option<tempfile::TempDir>),
) -> Duration {
    let batch = records_with_topic();
    // The route fingerprints a batch by its body, which it has already (not timed here).
    let body = serde_json::to_vec(&batch).unwrap_or_else(|e| panic!("encoding the batch: {e}"));
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let (backend, dir) = make();
        let n = per_backend.min(iters - done);
        let inputs: Vec<Vec<ProduceRecord>> = (0..n).map(|_| batch.clone()).collect();
        let keys: Vec<IdempotencyKey> = (0..n)
            .map(|i| {
                IdempotencyKey::parse(format!("bench-{done}-{i}").as_bytes())
                    .unwrap_or_else(|e| panic!("key: {e}"))
            })
            .collect();
        total += rt.block_on(async {
            let start = Instant::now();
            for (recs, key) in inputs.into_iter().zip(keys) {
                let meta = if keyed {
                    let fingerprint = upkafka_server::fingerprint_body(None, &body);
                    backend
                        .produce_idempotent(key, fingerprint, None, recs)
                        .await
                        .map(|p| p.metadata)
                } else {
                    backend.produce(recs).await
                }
                .unwrap_or_else(|e| panic!("produce failed: {e}"));
                black_box(meta);
            }
            start.elapsed()
        });
        rt.block_on(async {
            let _ = backend.close().await;
        });
        drop(backend);
        drop(dir);
        done += n;
    }
    total
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("append_500x100B");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            time_appends(&rt, iters, 2_000, &|| {
                let be = rt
                    .block_on(EmbeddedBackend::open(options(None)))
                    .unwrap_or_else(|e| panic!("open: {e}"));
                (be, None)
            })
        })
    });
    g.bench_function("memory_idempotency_key", |b| {
        b.iter_custom(|iters| {
            time_appends_keyed(&rt, iters, 2_000, true, &|| {
                let be = rt
                    .block_on(EmbeddedBackend::open(options(None)))
                    .unwrap_or_else(|e| panic!("open: {e}"));
                (be, None)
            })
        })
    });
    // Includes one fsync per batch: sequential batches do not share a group commit.
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("data_dir_fsync", |b| {
        b.iter_custom(|iters| {
            time_appends(&rt, iters, 2_000, &|| {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
                let be = rt
                    .block_on(EmbeddedBackend::open(options(Some(dir.path().to_owned()))))
                    .unwrap_or_else(|e| panic!("open: {e}"));
                (be, Some(dir))
            })
        })
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("read_500x100B");
    g.throughput(Throughput::Elements(BATCH as u64));
    let total_batches = 200usize;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for (name, data_dir) in [("memory", None), ("data_dir", Some(dir.path().to_owned()))] {
        let backend = rt
            .block_on(EmbeddedBackend::open(options(data_dir)))
            .unwrap_or_else(|e| panic!("open: {e}"));
        rt.block_on(async {
            for _ in 0..total_batches {
                backend
                    .produce(records_with_topic())
                    .await
                    .unwrap_or_else(|e| panic!("produce: {e}"));
            }
        });
        let end = (total_batches * BATCH) as i64;
        let mut next = 0i64;
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                || {
                    let from = next;
                    next = (next + BATCH as i64) % end;
                    vec![TopicPartitionOffset::new(TOPIC, 0, from)]
                },
                |entries| {
                    let backend = &backend;
                    async move {
                        let msgs = backend
                            .fetch(entries, Duration::ZERO)
                            .await
                            .unwrap_or_else(|e| panic!("fetch: {e}"));
                        assert_eq!(msgs.len(), BATCH);
                        msgs
                    }
                },
                BatchSize::SmallInput,
            )
        });
        rt.block_on(async {
            let _ = backend.close().await;
        });
    }
    g.finish();
}

criterion_group!(benches, codec, append, read);
criterion_main!(benches);
