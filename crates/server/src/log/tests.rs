use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use super::*;

fn rec(value: &str, ts: i64) -> StoredRecord {
    StoredRecord {
        timestamp: ts,
        key: Some(format!("k-{value}")),
        value: value.to_owned(),
        headers: vec![upkafka_protocol::Header::new("h", value)],
    }
}

fn durable(dir: &Path, segment_bytes: u64) -> Log {
    Log::open(&LogOptions {
        data_dir: Some(dir.to_owned()),
        segment_bytes,
    })
    .unwrap()
}

fn read_all(p: &Partition) -> Vec<Message> {
    let mut out = Vec::new();
    p.read_into(0, usize::MAX, usize::MAX, &mut out).unwrap();
    out
}

fn part(log: &Log, topic: &str, p: i32) -> Arc<Partition> {
    log.topic(topic).unwrap().partition(p).unwrap().clone()
}

#[tokio::test]
async fn durable_appends_survive_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = durable(dir.path(), 200);
        log.create_topic("t", 2).unwrap();
        let p0 = part(&log, "t", 0);
        let bases = log
            .append(vec![(
                p0.clone(),
                (0..10).map(|i| rec(&format!("v{i}"), 100 + i)).collect(),
            )])
            .await
            .unwrap();
        assert_eq!(bases, vec![0]);
        let bases = log
            .append(vec![(p0.clone(), vec![rec("v10", 50)])])
            .await
            .unwrap();
        assert_eq!(bases, vec![10]);
        assert_eq!(p0.end_offset(), 11);
        log.close().await.unwrap();
    }
    let segs = std::fs::read_dir(dir.path().join("topics/t/0"))
        .unwrap()
        .count();
    assert!(segs > 1, "small segments must roll, got {segs} file(s)");
    let log = durable(dir.path(), 200);
    assert_eq!(log.topic("t").unwrap().partition_count(), 2);
    let p0 = part(&log, "t", 0);
    let all = read_all(&p0);
    let values: Vec<&str> = all.iter().map(|m| m.value.as_str()).collect();
    let expected: Vec<String> = (0..11).map(|i| format!("v{i}")).collect();
    assert_eq!(values, expected);
    assert!(all.iter().enumerate().all(|(i, m)| m.offset == i as i64));
    assert_eq!(all[3].key, "k-v3");
    assert_eq!(all[3].headers[0].value, "v3");
    // Timestamp lookup uses the running max (v10 has an older timestamp than v9).
    assert_eq!(p0.offset_for_timestamp(105), Some(5));
    assert_eq!(p0.offset_for_timestamp(0), Some(0));
    assert_eq!(p0.offset_for_timestamp(110), None);
    // Appends continue after reopen.
    let bases = log
        .append(vec![(p0.clone(), vec![rec("v11", 1)])])
        .await
        .unwrap();
    assert_eq!(bases, vec![11]);
    assert_eq!(read_all(&p0).len(), 12);
}

#[tokio::test]
async fn torn_or_corrupt_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
        log.create_topic("t", 1).unwrap();
        let p = part(&log, "t", 0);
        log.append(vec![(
            p,
            (0..5).map(|i| rec(&format!("v{i}"), i)).collect(),
        )])
        .await
        .unwrap();
        log.close().await.unwrap();
    }
    let seg = dir.path().join("topics/t/0").join(format!("{:020}.log", 0));
    let good_len = std::fs::metadata(&seg).unwrap().len();
    // A half-written frame: a plausible header and a short payload.
    {
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        let mut frame = Vec::new();
        record::encode(&mut frame, 5, &rec("torn", 9));
        f.write_all(&frame[..frame.len() / 2]).unwrap();
    }
    {
        let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
        let p = part(&log, "t", 0);
        assert_eq!(p.end_offset(), 5);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), good_len);
        let b = log
            .append(vec![(p.clone(), vec![rec("after", 10)])])
            .await
            .unwrap();
        assert_eq!(b, vec![5]);
        log.close().await.unwrap();
    }
    // Garbage (bad CRC) after the valid records.
    {
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[0x20, 0, 0, 0, 1, 2, 3, 4]).unwrap();
        f.write_all(&[0xAB; 0x20]).unwrap();
    }
    let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
    let p = part(&log, "t", 0);
    let all = read_all(&p);
    assert_eq!(all.len(), 6);
    assert_eq!(all[5].value, "after");
    let b = log
        .append(vec![(p.clone(), vec![rec("again", 11)])])
        .await
        .unwrap();
    assert_eq!(b, vec![6]);
    assert_eq!(read_all(&p)[6].value, "again");
}

#[tokio::test]
async fn a_flipped_byte_in_the_middle_drops_that_record_and_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
        log.create_topic("t", 1).unwrap();
        let p = part(&log, "t", 0);
        log.append(vec![(
            p,
            (0..4).map(|i| rec(&format!("v{i}"), i)).collect(),
        )])
        .await
        .unwrap();
        log.close().await.unwrap();
    }
    let seg = dir.path().join("topics/t/0").join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&seg).unwrap();
    let frame_len = bytes.len() / 4;
    bytes[2 * frame_len + 12] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
    let p = part(&log, "t", 0);
    assert_eq!(p.end_offset(), 2);
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len() as usize,
        2 * frame_len
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_share_fsyncs_and_keep_offsets_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(durable(dir.path(), DEFAULT_SEGMENT_BYTES));
    log.create_topic("t", 1).unwrap();
    let p = part(&log, "t", 0);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let log = Arc::clone(&log);
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut bases = Vec::new();
            for i in 0..20 {
                let b = log
                    .append(vec![(p.clone(), vec![rec(&format!("{w}-{i}"), 0); 3])])
                    .await
                    .unwrap();
                bases.push(b[0]);
            }
            bases
        }));
    }
    let mut all_bases = Vec::new();
    for t in tasks {
        let bases = t.await.unwrap();
        assert!(
            bases.windows(2).all(|w| w[0] < w[1]),
            "each producer's batches are ordered"
        );
        all_bases.extend(bases);
    }
    all_bases.sort_unstable();
    let expected: Vec<i64> = (0..160).map(|i| i * 3).collect();
    assert_eq!(all_bases, expected);
    let msgs = read_all(&p);
    assert_eq!(msgs.len(), 480);
    assert!(msgs.iter().enumerate().all(|(i, m)| m.offset == i as i64));
}

#[tokio::test]
async fn memory_reads_respect_record_and_byte_limits() {
    let log = Log::open(&LogOptions::default()).unwrap();
    log.create_topic("t", 1).unwrap();
    let p = part(&log, "t", 0);
    log.append(vec![(
        p.clone(),
        (0..10).map(|i| rec(&format!("v{i}"), i)).collect(),
    )])
    .await
    .unwrap();
    let mut out = Vec::new();
    p.read_into(2, 3, usize::MAX, &mut out).unwrap();
    assert_eq!(
        out.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    out.clear();
    // A byte budget smaller than one record still yields one record.
    p.read_into(0, 100, 1, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    out.clear();
    p.read_into(10, 100, usize::MAX, &mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn a_data_dir_in_use_is_refused_until_its_log_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let first = durable(dir.path(), 1 << 20);
    let err = Log::open(&LogOptions {
        data_dir: Some(dir.path().to_path_buf()),
        segment_bytes: 1 << 20,
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("in use by another upkafka server"),
        "{err}"
    );
    drop(first);
    durable(dir.path(), 1 << 20);
}

#[test]
fn topic_names_that_escape_the_data_dir_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
    for bad in ["../x", "a/b", "..", ""] {
        assert!(log.create_topic(bad, 1).is_err(), "{bad}");
    }
    assert!(!dir.path().join("x").exists());
}

mod recovery_props {
    use super::*;
    use proptest::prelude::*;

    fn arb_record() -> impl Strategy<Value = StoredRecord> {
        super::record::arb_record()
    }

    fn to_message(i: usize, r: &StoredRecord) -> Message {
        Message {
            topic: "t".into(),
            partition: 0,
            offset: i as i64,
            timestamp: r.timestamp,
            key: r.key.clone().unwrap_or_default(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        /// Whatever happens to the tail of the last segment (cut anywhere, or one byte
        /// flipped), reopening yields exactly a prefix of what was written, and appends go on
        /// at the next offset.
        #[test]
        fn damage_leaves_an_exact_prefix(
            batches in proptest::collection::vec(proptest::collection::vec(arb_record(), 1..5), 1..5),
            cut in any::<proptest::sample::Index>(),
            flip in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let written: Vec<StoredRecord> = batches.iter().flatten().cloned().collect();
            rt.block_on(async {
                let log = durable(dir.path(), 256);
                log.create_topic("t", 1).unwrap();
                let p = part(&log, "t", 0);
                for b in &batches {
                    log.append(vec![(p.clone(), b.clone())]).await.unwrap();
                }
                log.close().await.unwrap();
            });
            let pdir = dir.path().join("topics/t/0");
            let mut segs: Vec<_> = std::fs::read_dir(&pdir).unwrap().map(|e| e.unwrap().path()).collect();
            segs.sort();
            let last = segs.last().unwrap().clone();
            let mut bytes = std::fs::read(&last).unwrap();
            if !bytes.is_empty() {
                let at = cut.index(bytes.len());
                if flip { bytes[at] ^= 0x01; } else { bytes.truncate(at); }
                std::fs::write(&last, &bytes).unwrap();
            }
            let log = durable(dir.path(), 256);
            let p = part(&log, "t", 0);
            let got = read_all(&p);
            prop_assert!(got.len() <= written.len());
            let expected: Vec<Message> = written[..got.len()].iter().enumerate().map(|(i, r)| to_message(i, r)).collect();
            prop_assert_eq!(&got, &expected);
            // Only the damaged (last) segment may lose records.
            let earlier: u64 = segs[..segs.len() - 1].iter().map(|s| std::fs::metadata(s).unwrap().len()).sum();
            prop_assert!(earlier == 0 || !got.is_empty());
            let next = rt.block_on(log.append(vec![(p.clone(), vec![written[0].clone()])])).unwrap();
            prop_assert_eq!(next, vec![got.len() as i64]);
        }
    }
}
