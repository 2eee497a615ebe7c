use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use super::*;
use crate::config::Limits;
use crate::log::settings::CleanupPolicy;

fn rec(value: &str, ts: i64) -> StoredRecord {
    StoredRecord {
        timestamp: ts,
        key: Some(format!("k-{value}")),
        value: Some(value.to_owned()),
        headers: vec![upkafka_protocol::Header::new("h", value)],
    }
}

/// Settings that keep everything, with segments of `segment_bytes`.
fn segments_of(segment_bytes: u64) -> TopicSettings {
    TopicSettings {
        segment_bytes,
        ..TopicSettings::unlimited()
    }
}

fn durable(dir: &Path, segment_bytes: u64) -> Log {
    Log::open(
        &LogOptions {
            data_dir: Some(dir.to_owned()),
            topic_defaults: segments_of(segment_bytes),
            ..LogOptions::default()
        },
        &Limits::default(),
    )
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
        assert_eq!(bases[..], [0]);
        let bases = log
            .append(vec![(p0.clone(), vec![rec("v10", 50)])])
            .await
            .unwrap();
        assert_eq!(bases[..], [10]);
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
    assert_eq!(
        p0.offset_for_timestamp(105).map_err(|e| e.to_string()),
        Ok(Some(5))
    );
    assert_eq!(
        p0.offset_for_timestamp(0).map_err(|e| e.to_string()),
        Ok(Some(0))
    );
    assert_eq!(
        p0.offset_for_timestamp(110).map_err(|e| e.to_string()),
        Ok(None)
    );
    // Appends continue after reopen.
    let bases = log
        .append(vec![(p0.clone(), vec![rec("v11", 1)])])
        .await
        .unwrap();
    assert_eq!(bases[..], [11]);
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
        assert_eq!(b[..], [5]);
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
    assert_eq!(b[..], [6]);
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
    let log = Log::open(&LogOptions::default(), &Limits::default()).unwrap();
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
    let err = Log::open(
        &LogOptions {
            data_dir: Some(dir.path().to_path_buf()),
            topic_defaults: segments_of(1 << 20),
            ..LogOptions::default()
        },
        &Limits::default(),
    )
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
            tombstone: r.value.is_none(),
            value: r.value.clone().unwrap_or_default(),
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
            let mut segs: Vec<_> = std::fs::read_dir(&pdir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect();
            segs.sort();
            let last = segs.last().unwrap().clone();
            // Damage hits what a crash leaves unprotected: frames written after the last
            // checkpoint of the active segment (here all of them, as after a `kill -9`
            // before its first checkpoint). Checkpointed frames are covered by
            // `index_tests::damage_*`.
            let _ = std::fs::remove_file(super::index::path_for(&last));
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
            prop_assert_eq!(&next[..], &[got.len() as i64]);
        }
    }
}

fn capped(dir: &Path, segment_bytes: u64, limits: Limits) -> Log {
    Log::open(
        &LogOptions {
            data_dir: Some(dir.to_owned()),
            topic_defaults: segments_of(segment_bytes),
            ..LogOptions::default()
        },
        &limits,
    )
    .unwrap()
}

fn values(p: &Partition) -> Vec<String> {
    read_all(p).into_iter().map(|m| m.value).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_files_beyond_the_cap_are_closed_and_reopened_with_data_intact() {
    const PARTS: i32 = 12;
    const CAP: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_open_files: CAP,
        ..Limits::default()
    };
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); PARTS as usize];
    {
        // Small segments: every partition rolls several times, so old segments are read too.
        let log = Arc::new(capped(dir.path(), 300, limits.clone()));
        log.create_topic("t", PARTS).unwrap();
        // Concurrent producers over all partitions: the writer's rounds touch more files
        // than the cache holds, so files are evicted between their write and their fsync.
        let mut tasks = Vec::new();
        for w in 0..4 {
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..30 {
                    let p = (w * 7 + i) % PARTS;
                    let v = format!("w{w}-{i:03}");
                    let groups = vec![(part(&log, "t", p), vec![rec(&v, i64::from(i))])];
                    let base = log.append(groups).await.unwrap()[0];
                    acked.push((p, base, v));
                }
                acked
            }));
        }
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        assert!(log.open_files() <= CAP, "{} files open", log.open_files());
        acked.sort();
        for (p, base, v) in acked {
            assert_eq!(
                base as usize,
                expected[p as usize].len(),
                "{p}: offsets contiguous"
            );
            expected[p as usize].push(v);
        }
        let opens_before_reads = log.file_opens();
        for p in 0..PARTS {
            assert_eq!(
                values(&part(&log, "t", p)),
                expected[p as usize],
                "partition {p}"
            );
            assert!(log.open_files() <= CAP);
        }
        assert!(
            log.file_opens() > opens_before_reads + PARTS as u64,
            "reading every partition reopened evicted segments ({} → {})",
            opens_before_reads,
            log.file_opens()
        );
        log.close().await.unwrap();
    }
    let segs = std::fs::read_dir(dir.path().join("topics/t/0"))
        .unwrap()
        .count();
    assert!(segs > 1, "segments rolled ({segs})");
    let log = capped(dir.path(), 300, limits);
    assert_eq!(
        log.open_files(),
        0,
        "opening scans and closes every segment"
    );
    for p in 0..PARTS {
        assert_eq!(
            values(&part(&log, "t", p)),
            expected[p as usize],
            "after reopen, {p}"
        );
    }
    // Appends continue after the reopen, also on a partition whose file was just evicted.
    let p0 = part(&log, "t", 0);
    let base = log
        .append(vec![(p0.clone(), vec![rec("next", 1)])])
        .await
        .unwrap()[0];
    assert_eq!(base as usize, expected[0].len());
    assert!(log.open_files() <= CAP);
}

#[tokio::test]
async fn a_failed_append_is_taken_back_alone_and_the_next_one_continues() {
    let dir = tempfile::tempdir().unwrap();
    let log = capped(
        dir.path(),
        DEFAULT_SEGMENT_BYTES,
        Limits {
            max_open_files: 1,
            ..Limits::default()
        },
    );
    log.create_topic("a", 1).unwrap();
    log.create_topic("b", 1).unwrap();
    let (a, b) = (part(&log, "a", 0), part(&log, "b", 0));
    log.append(vec![(a.clone(), vec![rec("a0", 1)])])
        .await
        .unwrap();
    // Writing b closes a's file (cap 1); then a's segment cannot be opened again: a
    // directory stands where the file was.
    log.append(vec![(b.clone(), vec![rec("b0", 1)])])
        .await
        .unwrap();
    let seg = dir.path().join("topics/a/0").join(format!("{:020}.log", 0));
    let aside = dir.path().join("a-segment");
    std::fs::rename(&seg, &aside).unwrap();
    std::fs::create_dir(&seg).unwrap();
    // Both batches in one writer round: a fails, b is acknowledged.
    let mut answers = writer::write_as_one_round(vec![
        vec![(a.clone(), vec![rec("a-lost", 2)])],
        vec![(b.clone(), vec![rec("b1", 2)])],
    ])
    .into_iter();
    let (fa, fb) = (answers.next().unwrap(), answers.next().unwrap());
    let err = fa.unwrap_err();
    assert!(
        matches!(err, BackendError::Io(_)) && err.to_string().contains("writing to a/0"),
        "{err}"
    );
    assert_eq!(fb.unwrap()[..], [1]);
    assert_eq!(a.end_offset(), 1, "nothing of the failed batch is visible");
    std::fs::remove_dir(&seg).unwrap();
    std::fs::rename(&aside, &seg).unwrap();
    // Once the file is back, the next append takes the offset the failed one did not.
    assert_eq!(
        log.append(vec![(a.clone(), vec![rec("a1", 3)])])
            .await
            .unwrap()[..],
        [1]
    );
    assert_eq!(values(&a), ["a0", "a1"]);
    assert_eq!(values(&b), ["b0", "b1"]);
    log.close().await.unwrap();
    drop(log);
    let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(values(&part(&log, "a", 0)), ["a0", "a1"]);
    assert_eq!(values(&part(&log, "b", 0)), ["b0", "b1"]);
}

#[test]
fn storage_errors_of_an_exhausted_resource_are_named_503s() {
    use axum::http::StatusCode;
    for (errno, says) in [
        (libc::EMFILE, "too many open files"),
        (libc::ENFILE, "too many open files in the system"),
        (libc::ENOSPC, "no space left on device"),
        (libc::EDQUOT, "disk quota exceeded"),
        (libc::ENOMEM, "out of memory"),
    ] {
        let e = BackendError::storage("writing to t/0", &std::io::Error::from_raw_os_error(errno));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE, "{e}");
        let text = crate::error::ApiError::from(e).message;
        assert!(
            text.contains(says) && text.contains("writing to t/0"),
            "{text}"
        );
    }
    let e = BackendError::storage("reading t/0", &std::io::Error::from_raw_os_error(libc::EIO));
    assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn topics_and_partitions_beyond_their_caps_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_topics: 3,
        max_partitions: 5,
        ..Limits::default()
    };
    {
        let log = capped(dir.path(), DEFAULT_SEGMENT_BYTES, limits.clone());
        log.create_topic("a", 3).unwrap();
        let err = log.create_topic("b", 3).unwrap_err();
        assert!(matches!(err, BackendError::OverLimit(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("--max-partitions") && text.contains('5') && text.contains("`b`"),
            "{text}"
        );
        log.create_topic("b", 1).unwrap();
        log.create_topic("c", 1).unwrap();
        let text = log.create_topic("d", 1).unwrap_err().to_string();
        assert!(text.contains("--max-topics allows (3)"), "{text}");
        // An existing topic is no creation: still answered at the cap.
        assert_eq!(log.create_topic("a", 3).unwrap().partition_count(), 3);
        assert!(log.topic("b").is_some() && log.topic("d").is_none());
    }
    // Lower caps later: what is stored opens all the same, new topics are refused.
    let log = capped(
        dir.path(),
        DEFAULT_SEGMENT_BYTES,
        Limits {
            max_topics: 1,
            ..limits
        },
    );
    assert_eq!(log.topic_counts().len(), 3);
    assert!(matches!(
        log.create_topic("e", 1),
        Err(BackendError::OverLimit(_))
    ));
    // In memory the caps hold too.
    let mem = Log::open(
        &LogOptions::default(),
        &Limits {
            max_topics: 1,
            ..Limits::default()
        },
    )
    .unwrap();
    mem.create_topic("x", 1).unwrap();
    assert!(matches!(
        mem.create_topic("y", 1),
        Err(BackendError::OverLimit(_))
    ));
}

#[tokio::test]
async fn a_data_dir_from_before_topic_settings_opens_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
        let t = log.create_topic("old", 2).unwrap();
        let p = Arc::clone(t.partition(1).unwrap());
        log.append(vec![(p, vec![rec("a", 1)])]).await.unwrap();
        log.close().await.unwrap();
    }
    // What versions before issue 15 wrote: the partition count alone.
    std::fs::write(dir.path().join("topics.json"), r#"{"old": 2}"#).unwrap();
    let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
    let t = log.topic("old").unwrap();
    assert_eq!(t.partition_count(), 2);
    assert_eq!(
        t.settings(),
        TopicSettings::unlimited(),
        "nothing is deleted by an upgrade"
    );
    assert_eq!(read_all(t.partition(1).unwrap()).len(), 1);
    // The next change writes the current shape, and the old topic keeps its settings.
    log.add_topic("new", 1, TopicSettings::default()).unwrap();
    drop(log);
    let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(
        log.topic("old").unwrap().settings(),
        TopicSettings::unlimited()
    );
    assert_eq!(
        log.topic("new").unwrap().settings(),
        TopicSettings::default()
    );
}

#[test]
fn topic_settings_survive_a_restart_and_a_second_create_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let compact = TopicSettings {
        cleanup_policy: CleanupPolicy::Compact,
        retention_bytes: Some(8 << 20),
        segment_ms: 1000,
        ..TopicSettings::default()
    };
    {
        let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
        let t = log.add_topic("c", 3, compact).unwrap();
        assert!(t.created_ms() > 0);
        assert_eq!(
            log.add_topic("c", 3, compact).unwrap_err(),
            BackendError::TopicExists("c".into())
        );
        let altered = TopicSettings {
            retention_ms: Some(2000),
            ..compact
        };
        log.alter_topic("c", &altered.into()).unwrap();
        assert!(matches!(
            log.alter_topic("nope", &altered.into()),
            Err(BackendError::UnknownTopic(_))
        ));
        let bad = TopicSettings {
            segment_bytes: 1,
            ..compact
        };
        let err = log.alter_topic("c", &bad.into()).unwrap_err().to_string();
        assert!(err.contains("segment_bytes"), "{err}");
    }
    let log = durable(dir.path(), DEFAULT_SEGMENT_BYTES);
    let t = log.topic("c").unwrap();
    assert_eq!(t.partition_count(), 3);
    assert_eq!(t.settings().retention_ms, Some(2000));
    assert_eq!(t.settings().cleanup_policy, CleanupPolicy::Compact);
}

#[tokio::test]
async fn a_deleted_topic_wakes_its_readers_and_comes_back_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = durable(dir.path(), 256);
        let t = log.create_topic("d", 1).unwrap();
        let p = Arc::clone(t.partition(0).unwrap());
        let records = (0..20).map(|i| rec(&i.to_string(), i)).collect();
        log.append(vec![(Arc::clone(&p), records)]).await.unwrap();
        let mut waiting = p.subscribe();
        waiting.mark_unchanged();
        log.delete_topic("d").unwrap();
        assert!(waiting.has_changed().unwrap(), "a waiting reader is woken");
        assert!(p.is_deleted());
        assert!(log.topic("d").is_none());
        assert!(matches!(
            log.delete_topic("d"),
            Err(BackendError::UnknownTopic(_))
        ));
        assert!(!dir.path().join("topics/d").exists(), "its files are gone");
        let again = log.create_topic("d", 1).unwrap();
        assert_eq!(
            again.partition(0).unwrap().end_offset(),
            0,
            "re-created empty"
        );
        log.delete_topic("d").unwrap();
        log.close().await.unwrap();
    }
    // Deleted stays deleted across a restart; a leftover in deleted/ is removed on open.
    std::fs::create_dir_all(dir.path().join("deleted/d-1/0")).unwrap();
    let log = durable(dir.path(), 256);
    assert!(log.topic("d").is_none());
    assert_eq!(
        std::fs::read_dir(dir.path().join("deleted"))
            .unwrap()
            .count(),
        0
    );
}
