use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use tokio::sync::oneshot;

use super::*;

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::parse(s.as_bytes()).expect("valid key")
}

fn meta(offset: i64) -> Vec<ProduceMetadata> {
    vec![ProduceMetadata {
        topic: "t".into(),
        partition: 0,
        offset,
        timestamp: 1,
    }]
}

/// Waits until a repeat of `k` is waiting for its first request's store: the tests below
/// let that store go only then, so the repeat cannot arrive after it and store directly.
async fn until_a_repeat_waits(dedup: &Dedup, k: &str) {
    let k = key(k);
    tokio::time::timeout(Duration::from_secs(5), async {
        while !dedup.lock().has_waiters(&k) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the repeat waits for the first store");
}

#[test]
fn keys_are_visible_ascii_bare_or_quoted() {
    assert_eq!(key("abc-123_XYZ").as_str(), "abc-123_XYZ");
    assert_eq!(key("\"abc\"").as_str(), "abc");
    assert_eq!(key(r#""a\"b\\c""#).as_str(), r#"a"b\c"#);
    assert_eq!(key(&"x".repeat(255)).as_str().len(), 255);
    // `"` alone is a one-character bare key, not an empty quoted string.
    assert_eq!(key("\"").as_str(), "\"");
    for (bad, why) in [
        ("", "1 to 255"),
        ("\"\"", "1 to 255"),
        (&"x".repeat(256), "not 256"),
        ("a b", "visible ASCII"),
        ("tab\there", "0x09"),
        ("é", "visible ASCII"),
        (r#""a\nb""#, "escape only"),
        (r#""a"b""#, "must be escaped"),
    ] {
        let err = IdempotencyKey::parse(bad.as_bytes()).expect_err(bad);
        assert!(err.contains("Idempotency-Key"), "{err}");
        assert!(err.contains(why), "{bad:?}: {err}");
    }
}

#[test]
fn the_fingerprint_tells_every_field_apart() {
    let base = vec![ProduceRecord::new("v").key("k").topic("t")];
    let fp = fingerprint_records(None, &base);
    assert_eq!(fp, fingerprint_records(None, &base.clone()));
    // The path's topic and the record's own are the same request.
    assert_eq!(
        fp,
        fingerprint_records(Some("t"), &[ProduceRecord::new("v").key("k")])
    );
    let mut variants = vec![
        vec![ProduceRecord::new("w").key("k").topic("t")],
        vec![ProduceRecord::new("v").key("j").topic("t")],
        vec![ProduceRecord::new("v").topic("t")],
        vec![ProduceRecord::new("v").key("k").topic("u")],
        vec![ProduceRecord::new("v").key("k").topic("t").partition(0)],
        vec![ProduceRecord::new("v").key("k").topic("t").header("h", "")],
        vec![ProduceRecord::new("v").key("k").topic("t"); 2],
        // Lengths are prefixed: moving bytes between fields changes the fingerprint.
        vec![ProduceRecord::new("kv").key("").topic("t")],
    ];
    let mut timed = base.clone();
    timed[0].timestamp = Some(5);
    variants.push(timed);
    for v in variants {
        assert_ne!(fp, fingerprint_records(None, &v), "{v:?}");
    }
}

/// A JSON batch is fingerprinted by its bytes and the path's topic: the same bytes are the
/// same request, anything else (another byte, another route) another one.
#[test]
fn the_body_fingerprint_is_of_the_bytes_and_the_route() {
    let body = br#"[{"value":"v","key":"k"}]"#;
    let fp = fingerprint_body(Some("t"), body);
    let copy = body.to_vec();
    assert_eq!(
        fp,
        fingerprint_body(Some("t"), &copy),
        "the bytes, not where they live"
    );
    assert_ne!(
        fp,
        fingerprint_body(None, body),
        "/produce is another route"
    );
    assert_ne!(fp, fingerprint_body(Some("u"), body), "another topic");
    assert_ne!(
        fp,
        fingerprint_body(Some("t"), br#"[{"key":"k","value":"v"}]"#),
        "another encoding is another request"
    );
    assert_ne!(
        fingerprint_body(Some(""), body),
        fingerprint_body(None, body)
    );
    let records = [ProduceRecord::new("v").key("k")];
    assert_ne!(
        fp,
        fingerprint_records(Some("t"), &records),
        "the two forms never meet"
    );
}

#[test]
fn a_repeat_gets_the_first_answer_and_another_batch_is_refused() {
    let mut t = Table::new(Duration::from_secs(10), 1 << 20);
    let k = key("k");
    let Begin::Store(ticket) = t.begin(&k, [1; 16], 0) else {
        panic!("a new key stores")
    };
    assert!(matches!(t.begin(&k, [1; 16], 1), Begin::Wait(_)));
    assert!(matches!(t.begin(&k, [2; 16], 1), Begin::Mismatch));
    t.finish(ticket, Some(&meta(7)), 2);
    match t.begin(&k, [1; 16], 3) {
        Begin::Answer(a) => assert_eq!(a, meta(7)),
        _ => panic!("a repeat is answered"),
    }
    assert!(matches!(t.begin(&k, [2; 16], 3), Begin::Mismatch));
    // The window counts from the answer: at 2 + 10 s the key is forgotten.
    assert!(matches!(t.begin(&k, [1; 16], 10_001), Begin::Answer(_)));
    assert!(matches!(t.begin(&k, [1; 16], 10_002), Begin::Store(_)));
}

#[test]
fn a_failed_store_forgets_the_key_and_wakes_its_waiters() {
    let mut t = Table::new(Duration::from_secs(10), 1 << 20);
    let k = key("k");
    let Begin::Store(ticket) = t.begin(&k, [1; 16], 0) else {
        panic!()
    };
    let Begin::Wait(waiting) = t.begin(&k, [1; 16], 0) else {
        panic!("a repeat waits for the first")
    };
    assert!(t.has_waiters(&k));
    t.finish(ticket, None, 1);
    assert_eq!(t.len(), 0);
    // Registered under the table's lock, so woken although it was never polled before.
    assert_woken(waiting);
    assert!(
        matches!(t.begin(&k, [1; 16], 2), Begin::Store(_)),
        "stored again after a failure"
    );
}

/// Asserts that `waiting` is ready on its first poll.
fn assert_woken(waiting: OwnedNotified) {
    let mut waiting = std::pin::pin!(waiting);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        waiting.as_mut().poll(&mut cx).is_ready(),
        "the waiter was woken"
    );
}

/// A store that panics (its request's task dies) must not leave its key "being stored":
/// the repeat waiting for it is woken at once and stores the batch itself.
#[tokio::test]
async fn a_store_that_panics_hands_its_key_to_the_waiting_repeat() {
    let dedup = Dedup::new(Duration::from_secs(60), 1 << 20);
    let (release, gate) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel::<()>();
    let first = {
        let dedup = dedup.clone();
        tokio::spawn(async move {
            dedup
                .produce(key("k"), [1; 16], move || async move {
                    let _ = started_tx.send(());
                    let _ = gate.await;
                    panic!("the store fails hard");
                })
                .await
        })
    };
    started.await.expect("the first store runs");
    let repeat = {
        let dedup = dedup.clone();
        tokio::spawn(async move {
            dedup
                .produce(key("k"), [1; 16], || async { Ok(meta(5)) })
                .await
        })
    };
    until_a_repeat_waits(&dedup, "k").await;
    release.send(()).expect("store waiting");
    assert!(first.await.is_err(), "the first request's task panicked");
    let got = tokio::time::timeout(Duration::from_secs(5), repeat)
        .await
        .expect("woken well before WAIT_FOR_FIRST")
        .expect("joined")
        .expect("stored");
    assert_eq!(got.metadata, meta(5));
    assert!(!got.repeated, "the repeat stored the batch itself");
}

#[test]
fn the_oldest_keys_are_forgotten_beyond_the_memory_bound() {
    let one = cost(
        &key("k0"),
        &Answer::of(&meta(0), &mut TopicNames::default()),
    );
    let mut t = Table::new(Duration::from_secs(3600), 3 * one);
    for i in 0..5 {
        let k = key(&format!("k{i}"));
        let Begin::Store(ticket) = t.begin(&k, [0; 16], i) else {
            panic!()
        };
        t.finish(ticket, Some(&meta(i)), i);
    }
    assert_eq!((t.len(), t.bytes()), (3, 3 * one));
    assert!(matches!(t.begin(&key("k1"), [0; 16], 9), Begin::Store(_)));
    assert!(matches!(t.begin(&key("k2"), [0; 16], 9), Begin::Answer(_)));
}

#[test]
fn restored_batches_count_from_their_own_time() {
    let mut t = Table::new(Duration::from_secs(10), 1 << 20);
    let batch = |k: &str, at: i64| StoredBatch {
        key: key(k),
        fingerprint: [1; 16],
        stored_at_ms: at,
        answer: meta(at),
    };
    t.restore(batch("old", 0), 20_000);
    t.restore(batch("new", 15_000), 20_000);
    // The same request read back (a gateway's own shared answer, written a little later):
    // the answer it has stays.
    t.restore(batch("new", 15_500), 20_000);
    assert_eq!(t.len(), 1);
    match t.begin(&key("new"), [1; 16], 20_000) {
        Begin::Answer(a) => assert_eq!(a[0].offset, 15_000),
        _ => panic!("a restored key is answered"),
    }
    assert!(matches!(
        t.begin(&key("new"), [1; 16], 25_000),
        Begin::Store(_)
    ));
}

/// The async rule: a repeat that arrives while the first is stored waits for its answer; the
/// first's store goes on when its request is dropped; the batch is stored once.
#[tokio::test]
async fn a_repeat_waits_for_the_first_and_a_dropped_request_still_stores() {
    let dedup = Dedup::new(Duration::from_secs(60), 1 << 20);
    let stores = Arc::new(AtomicUsize::new(0));
    let (release, gate) = oneshot::channel::<()>();
    let first = {
        let (dedup, stores) = (dedup.clone(), Arc::clone(&stores));
        tokio::spawn(async move {
            dedup
                .produce(key("k"), [1; 16], move || async move {
                    stores.fetch_add(1, Ordering::SeqCst);
                    let _ = gate.await;
                    Ok(meta(3))
                })
                .await
        })
    };
    tokio::task::yield_now().await;
    while stores.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let repeat = {
        let (dedup, stores) = (dedup.clone(), Arc::clone(&stores));
        tokio::spawn(async move {
            dedup
                .produce(key("k"), [1; 16], move || async move {
                    stores.fetch_add(1, Ordering::SeqCst);
                    Ok(meta(99))
                })
                .await
        })
    };
    until_a_repeat_waits(&dedup, "k").await;
    // The first request goes away (a client that disconnected); its store does not.
    first.abort();
    release.send(()).expect("store waiting");
    let got = repeat.await.expect("joined").expect("answered");
    assert_eq!(got.metadata, meta(3));
    assert!(got.repeated);
    assert_eq!(stores.load(Ordering::SeqCst), 1, "stored once");
}

#[tokio::test(start_paused = true)]
async fn a_repeat_waits_at_most_the_bound_then_gets_409() {
    let dedup = Dedup::new(Duration::from_secs(60), 1 << 20);
    let (_hold, gate) = oneshot::channel::<()>();
    let d = dedup.clone();
    tokio::spawn(async move {
        d.produce(key("k"), [1; 16], move || async move {
            let _ = gate.await;
            Ok(meta(0))
        })
        .await
    });
    tokio::task::yield_now().await;
    let err = dedup
        .produce(key("k"), [1; 16], || async { Ok(meta(1)) })
        .await
        .expect_err("busy");
    assert!(matches!(err, BackendError::IdempotencyKeyBusy(_)), "{err}");
    assert_eq!(err.status(), axum::http::StatusCode::CONFLICT);
    let err = dedup
        .produce(key("k"), [2; 16], || async { Ok(meta(1)) })
        .await
        .expect_err("reused");
    assert_eq!(err.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
}

#[derive(Debug, Clone)]
enum Op {
    /// A request with key `k` and body `b`.
    Request { k: u8, b: u8 },
    /// The `i`-th store in flight (modulo their number) ends, stored or failed.
    Finish { i: usize, ok: bool },
    /// Time passes.
    Advance { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..2).prop_map(|(k, b)| Op::Request { k, b }),
        3 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(i, ok)| Op::Finish { i, ok }),
        1 => (0i64..700).prop_map(|ms| Op::Advance { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any interleaving of requests, repeats, failures, expiry (window 1 s) and evictions (room
    /// for `cap` keys) against a model of the rule: every answer is that of a stored batch of
    /// the same key and body (nothing acknowledged is lost or misattributed), and a key is
    /// stored again only when the model forgot it (its window passed or `cap` newer keys were
    /// answered since): never twice within its window while remembered.
    #[test]
    fn the_dedup_window_never_loses_a_record_nor_stores_a_key_twice(
        ops in proptest::collection::vec(op(), 0..80),
        cap in 1usize..5,
    ) {
        let window = 1000;
        let one = cost(&key("k0"), &Answer::of(&meta(0), &mut TopicNames::default()));
        let mut t = Table::new(Duration::from_millis(window as u64), cap * one);
        let mut now = 0i64;
        let mut next_offset = 0i64;
        // Stores in flight: (ticket, key, body). The table's in-flight entries are these.
        let mut inflight: Vec<(Ticket, u8, u8)> = Vec::new();
        // Model: answered batches in answer order: (key, body, answer, answered at).
        let mut answered: Vec<(u8, u8, Vec<ProduceMetadata>, i64)> = Vec::new();
        let mut stores_of = [0usize; 4];
        for op in ops {
            match op {
                Op::Advance { ms } => now += ms,
                Op::Finish { i, ok } => {
                    if inflight.is_empty() { continue; }
                    let (ticket, k, b) = inflight.remove(i % inflight.len());
                    if ok {
                        let answer = meta(next_offset);
                        next_offset += 1;
                        t.finish(ticket, Some(&answer), now);
                        answered.push((k, b, answer, now));
                        stores_of[k as usize] += 1;
                    } else {
                        t.finish(ticket, None, now);
                    }
                }
                Op::Request { k, b } => {
                    let begin = t.begin(&key(&format!("k{k}")), [b; 16], now);
                    let storing = inflight.iter().find(|(_, kk, _)| *kk == k).map(|(_, _, bb)| *bb);
                    // Remembered: among the last `cap` answers and within the window.
                    let start = answered.len().saturating_sub(cap);
                    let remembered = answered[start..]
                        .iter()
                        .rev()
                        .find(|(kk, _, _, at)| *kk == k && at + window > now)
                        .filter(|_| storing.is_none());
                    match begin {
                        Begin::Answer(a) => {
                            let (_, body, answer, _) = remembered.expect("answers only a remembered key");
                            prop_assert_eq!(*body, b, "answered for another body");
                            prop_assert_eq!(&a, answer, "the first answer, unchanged");
                        }
                        Begin::Mismatch => {
                            let body = storing.or(remembered.map(|r| r.1));
                            prop_assert!(body.is_some_and(|body| body != b), "refused only for another body");
                        }
                        Begin::Wait(_) => prop_assert_eq!(storing, Some(b), "waits only for its own first"),
                        Begin::Store(ticket) => {
                            prop_assert!(storing.is_none(), "stored while its first is in flight");
                            prop_assert!(remembered.is_none(), "stored twice within the window");
                            inflight.push((ticket, k, b));
                        }
                    }
                }
            }
            prop_assert!(t.bytes() <= cap * one, "over the memory bound");
        }
        // Every acknowledged store is a real one: offsets were handed out once each.
        prop_assert_eq!(stores_of.iter().sum::<usize>() as i64, next_offset);
    }
}

#[test]
fn answers_keep_every_topic_and_share_the_names() {
    let mut names = TopicNames::default();
    let at = |topic: &str, offset: i64| ProduceMetadata {
        topic: topic.into(),
        partition: 1,
        offset,
        timestamp: 9,
    };
    let mixed = vec![at("a", 0), at("b", 0), at("a", 1), at("c", 0), at("b", 1)];
    let answer = Answer::of(&mixed, &mut names);
    assert_eq!(
        answer.metadata(),
        mixed,
        "topics, order and places as given"
    );
    // A batch to one partition is one run, inline, whatever its size; a gap in the offsets,
    // another partition or another timestamp starts a new run.
    let batch: Vec<ProduceMetadata> = (0..500).map(|i| at("a", 1000 + i)).collect();
    let one_run = Answer::of(&batch, &mut names);
    assert!(matches!(one_run.runs, Runs::One(Run { len: 500, .. })));
    assert_eq!(one_run.metadata(), batch);
    let mut broken = batch.clone();
    broken[100].offset += 7;
    broken[200].partition = 2;
    broken[300].timestamp = 10;
    let runs = Answer::of(&broken, &mut names);
    assert_eq!(
        runs.runs.as_slice().len(),
        7,
        "each break starts a run, and ends one"
    );
    assert_eq!(runs.metadata(), broken);
    assert_eq!(
        cost(&key("k"), &one_run),
        cost(&key("k"), &Answer::of(&batch[..1], &mut names)),
        "counted by runs, not records"
    );
    let one = Answer::of(&meta(4), &mut names);
    let again = Answer::of(&meta(5), &mut names);
    assert!(Arc::ptr_eq(&one.topic, &again.topic), "one copy of a name");
    assert_eq!(Answer::of(&[], &mut names).metadata(), []);
    assert_eq!(
        Answer::of(&batch[..1], &mut names).metadata(),
        batch[..1],
        "a single record's answer"
    );
    // Another topic in between: the name is still found (in the set, not as the last one).
    let mut other = meta(1);
    other[0].topic = "other".to_owned();
    let between = Answer::of(&other, &mut names);
    let after = Answer::of(&meta(1), &mut names);
    assert!(
        Arc::ptr_eq(&one.topic, &after.topic),
        "one copy after another name"
    );
    assert_eq!(between.metadata(), other);
    // Bounded: it starts again past MAX names, and the answers keep theirs.
    for i in 0..=TopicNames::MAX {
        names.get(&format!("t{i}"));
    }
    assert!(names.names.len() <= TopicNames::MAX);
    assert_eq!(again.metadata(), meta(5));
}
