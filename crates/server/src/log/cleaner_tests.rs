//! Retention and compaction of the embedded log, in real time with small segments: the
//! promises of issue 15 (sizes, delays, what survives), readers running during cleaning, and
//! recovery of an interrupted compaction swap.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::settings::CleanupPolicy;
use super::*;
use crate::config::Limits;

const MIB: u64 = 1 << 20;

fn now() -> i64 {
    crate::backend::clock::now_ms()
}

fn keyed(key: &str, value: Option<String>) -> StoredRecord {
    StoredRecord {
        timestamp: now(),
        key: Some(key.to_owned()),
        value,
        headers: vec![],
    }
}

fn open(dir: Option<&Path>, interval: Duration, limits: &Limits) -> Log {
    Log::open(
        &LogOptions {
            data_dir: dir.map(Path::to_path_buf),
            cleaner_interval: interval,
            ..LogOptions::default()
        },
        limits,
    )
    .unwrap()
}

fn part(log: &Log, topic: &str) -> Arc<Partition> {
    log.topic(topic).unwrap().partition(0).unwrap().clone()
}

fn read_from(p: &Partition, from: i64) -> Vec<Message> {
    let mut out = Vec::new();
    p.read_into(from, usize::MAX, usize::MAX, &mut out).unwrap();
    out
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        // The cleaner may remove a file between the listing and this look at it.
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", entry.path().display()),
        };
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// Polls `done` every 50 ms until it holds or `limit` passes; returns how long it took.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done().then(|| start.elapsed())
}

fn value_of(i: usize, len: usize) -> String {
    let mut v = format!("{i:08}:");
    v.extend(std::iter::repeat_n('x', len.saturating_sub(v.len())));
    v
}

/// Issue 15's promise: `segment_bytes` 1 MiB, `segment_ms` 1 s, `retention_bytes` 8 MiB; after
/// 40 MiB written to one partition the data directory is under 16 MiB, and reading from the
/// earliest offset (or from 0, below it) gives the newest records, contiguous, as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_retention_keeps_a_partition_near_its_limit_and_earliest_reads_work() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        Some(dir.path()),
        DEFAULT_CLEANER_INTERVAL,
        &Limits::default(),
    );
    let settings = TopicSettings {
        retention_bytes: Some(8 * MIB),
        retention_ms: None,
        segment_bytes: MIB,
        segment_ms: 1000,
        ..TopicSettings::default()
    };
    log.add_topic("sized", 1, settings).unwrap();
    let p = part(&log, "sized");
    const RECORD: usize = 16 * 1024;
    let records = (40 * MIB) as usize / RECORD;
    let mut peak = 0u64;
    for batch in (0..records).collect::<Vec<_>>().chunks(16) {
        let recs = batch
            .iter()
            .map(|i| keyed("k", Some(value_of(*i, RECORD))))
            .collect();
        log.append(vec![(Arc::clone(&p), recs)]).await.unwrap();
        peak = peak.max(dir_bytes(dir.path()));
    }
    let settled = within(Duration::from_secs(5), || dir_bytes(dir.path()) < 16 * MIB);
    // Stop the cleaner, so that what is checked below cannot move meanwhile.
    log.close().await.unwrap();
    let size = dir_bytes(dir.path());
    println!(
        "FIGURES size retention: 40 MiB written, data dir {:.1} MiB after, peak {:.1} MiB while writing, settled in {settled:?}",
        size as f64 / MIB as f64,
        peak as f64 / MIB as f64
    );
    assert!(
        size < 16 * MIB,
        "data dir holds {size} bytes after 40 MiB with retention_bytes 8 MiB"
    );
    assert!(
        size >= 8 * MIB,
        "retention keeps at least retention_bytes ({size})"
    );
    let start = p.start_offset();
    assert!(start > 0, "the earliest offset moved up");
    let earliest = read_from(&p, start);
    assert_eq!(earliest.first().map(|m| m.offset), Some(start));
    assert_eq!(earliest.len() as i64, p.end_offset() - start);
    for m in &earliest {
        assert_eq!(
            m.value,
            value_of(m.offset as usize, RECORD),
            "offset {}",
            m.offset
        );
    }
    let from_zero = read_from(&p, 0);
    assert_eq!(
        from_zero.first().map(|m| m.offset),
        Some(start),
        "a read below the earliest offset starts at it"
    );
    drop(log);
    let log = open(
        Some(dir.path()),
        Duration::from_secs(3600),
        &Limits::default(),
    );
    assert_eq!(
        part(&log, "sized").start_offset(),
        start,
        "the start survives a restart"
    );
}

/// The same on the in-memory store: retention bounds what a partition holds.
#[tokio::test]
async fn size_retention_bounds_an_in_memory_partition() {
    let log = open(None, Duration::from_millis(50), &Limits::default());
    let settings = TopicSettings {
        retention_bytes: Some(64 * 1024),
        segment_bytes: 16 * 1024,
        ..TopicSettings::unlimited()
    };
    log.add_topic("m", 1, settings).unwrap();
    let p = part(&log, "m");
    for i in 0..1000 {
        log.append(vec![(
            Arc::clone(&p),
            vec![keyed("k", Some(value_of(i, 1000)))],
        )])
        .await
        .unwrap();
    }
    let held = || {
        read_from(&p, 0)
            .iter()
            .map(|m| m.value.len())
            .sum::<usize>()
    };
    assert!(
        within(Duration::from_secs(5), || held() < 100 * 1024).is_some(),
        "an in-memory partition holds {} bytes with retention_bytes 64 KiB",
        held()
    );
    let kept = read_from(&p, 0);
    assert!(held() >= 64 * 1024);
    assert_eq!(kept.first().map(|m| m.offset), Some(p.start_offset()));
    assert_eq!(kept.last().map(|m| m.offset), Some(999));
}

/// `retention_ms` 2 s: the records older than that are gone within 15 s once newer records
/// exist, and no record younger than 2 s is ever deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_retention_deletes_what_is_older_and_nothing_younger() {
    for durable in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            durable.then_some(dir.path()),
            DEFAULT_CLEANER_INTERVAL,
            &Limits::default(),
        );
        let settings = TopicSettings {
            retention_ms: Some(2000),
            segment_ms: 1000,
            ..TopicSettings::default()
        };
        log.add_topic("timed", 1, settings).unwrap();
        let p = part(&log, "timed");
        let old: Vec<StoredRecord> = (0..50).map(|i| keyed("old", Some(i.to_string()))).collect();
        log.append(vec![(Arc::clone(&p), old)]).await.unwrap();
        let written = Instant::now();
        let mut stamps: Vec<(i64, i64)> = Vec::new();
        let mut gone_after = None;
        while written.elapsed() < Duration::from_secs(15) {
            let r = keyed("new", Some("n".into()));
            let ts = r.timestamp;
            let base = log.append(vec![(Arc::clone(&p), vec![r])]).await.unwrap()[0];
            stamps.push((base, ts));
            let start = p.start_offset();
            let check = now();
            for (offset, ts) in &stamps {
                assert!(
                    *offset >= start || *ts < check - 2000,
                    "offset {offset} ({} ms old) was deleted with retention_ms 2000",
                    check - ts
                );
            }
            if start >= 50 {
                gone_after = Some(written.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let gone_after = gone_after.expect("records older than retention_ms were never deleted");
        println!(
            "FIGURES time retention (durable {durable}): 2 s old records gone after {gone_after:?}"
        );
        assert!(read_from(&p, 0).iter().all(|m| m.key == "new"));
    }
}

/// Compaction: 10 keys × 200 versions shrink to a few records within 30 s; each key's latest
/// value stays at its original offset, order is kept, reads across the gaps work, and the
/// compacted segments open again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_latest_value_of_each_key_at_its_offset() {
    for durable in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            durable.then_some(dir.path()),
            Duration::from_millis(200),
            &Limits::default(),
        );
        let settings = TopicSettings {
            cleanup_policy: CleanupPolicy::Compact,
            segment_bytes: 4096,
            segment_ms: 1000,
            ..TopicSettings::default()
        };
        log.add_topic("c", 1, settings).unwrap();
        let p = part(&log, "c");
        let mut latest: HashMap<String, (i64, String)> = HashMap::new();
        for version in 0..200 {
            let recs: Vec<StoredRecord> = (0..10)
                .map(|k| keyed(&format!("key{k}"), Some(format!("key{k}-v{version}"))))
                .collect();
            let base = log.append(vec![(Arc::clone(&p), recs)]).await.unwrap()[0];
            for k in 0..10 {
                latest.insert(format!("key{k}"), (base + k, format!("key{k}-v{version}")));
            }
        }
        // A later record closes the segment holding the last versions (segment_ms 1 s).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let marker = log
            .append(vec![(
                Arc::clone(&p),
                vec![keyed("marker", Some("m".into()))],
            )])
            .await
            .unwrap()[0];
        let took = within(Duration::from_secs(30), || read_from(&p, 0).len() <= 11);
        let all = read_from(&p, 0);
        println!(
            "FIGURES compaction (durable {durable}): 2000 records of 10 keys -> {} records in {took:?}",
            all.len()
        );
        assert!(
            took.is_some(),
            "compaction left {} of 2000 records",
            all.len()
        );
        assert!(all.windows(2).all(|w| w[0].offset < w[1].offset));
        let mut seen: HashMap<String, (i64, String)> = HashMap::new();
        for m in &all {
            seen.insert(m.key.clone(), (m.offset, m.value.clone()));
        }
        assert_eq!(seen.remove("marker"), Some((marker, "m".into())));
        assert_eq!(
            seen, latest,
            "each key's latest value at its original offset"
        );
        // A read from inside a gap starts at the next surviving record; limits still hold.
        let (first_kept, _) = latest["key0"];
        let mut out = Vec::new();
        p.read_into(first_kept - 1, 2, usize::MAX, &mut out)
            .unwrap();
        assert!(!all.iter().any(|m| m.offset == first_kept - 1), "a gap");
        let next_two: Vec<i64> = all
            .iter()
            .map(|m| m.offset)
            .filter(|o| *o >= first_kept - 1)
            .take(2)
            .collect();
        assert_eq!(out.iter().map(|m| m.offset).collect::<Vec<_>>(), next_two);
        assert_eq!(
            p.start_offset(),
            0,
            "compaction never moves the start offset"
        );
        if durable {
            log.close().await.unwrap();
            drop(log);
            let log = open(
                Some(dir.path()),
                Duration::from_secs(3600),
                &Limits::default(),
            );
            let p = part(&log, "c");
            let again = read_from(&p, 0);
            assert_eq!(
                again
                    .iter()
                    .map(|m| (m.offset, &m.value))
                    .collect::<Vec<_>>(),
                all.iter().map(|m| (m.offset, &m.value)).collect::<Vec<_>>(),
                "compacted segments open with their gaps"
            );
            let next = log
                .append(vec![(
                    Arc::clone(&p),
                    vec![keyed("after", Some("a".into()))],
                )])
                .await
                .unwrap()[0];
            assert_eq!(next, marker + 1);
        }
    }
}

/// A tombstone (null value) removes its key's older values at once and itself after
/// `delete_retention_ms`; until then a reader sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_delete_their_key_after_delete_retention() {
    for durable in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            durable.then_some(dir.path()),
            Duration::from_millis(100),
            &Limits::default(),
        );
        let settings = TopicSettings {
            cleanup_policy: CleanupPolicy::Compact,
            segment_ms: 200,
            delete_retention_ms: 2500,
            ..TopicSettings::default()
        };
        log.add_topic("t", 1, settings).unwrap();
        let p = part(&log, "t");
        let recs = vec![
            keyed("a", Some("a1".into())),
            keyed("b", Some("b1".into())),
            keyed("a", None),
        ];
        let tomb_ts = recs[2].timestamp;
        log.append(vec![(Arc::clone(&p), recs)]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        log.append(vec![(Arc::clone(&p), vec![keyed("c", Some("c1".into()))])])
            .await
            .unwrap();
        let offsets =
            |p: &Partition| -> Vec<i64> { read_from(p, 0).iter().map(|m| m.offset).collect() };
        assert!(
            within(Duration::from_secs(10), || !offsets(&p).contains(&0)).is_some(),
            "a's older value was never removed"
        );
        let checked = now();
        let kept = offsets(&p);
        if checked < tomb_ts + 2500 {
            assert_eq!(
                kept,
                vec![1, 2, 3],
                "the tombstone stays until delete_retention_ms"
            );
            let tomb = &read_from(&p, 2)[0];
            assert_eq!((tomb.key.as_str(), tomb.value.as_str()), ("a", ""));
        }
        assert!(
            within(Duration::from_secs(10), || offsets(&p) == vec![1, 3]).is_some(),
            "the tombstone never went: {:?}",
            offsets(&p)
        );
        assert!(
            now() >= tomb_ts + 2500,
            "the tombstone went before delete_retention_ms"
        );
    }
}

/// Readers running while the cleaner deletes and compacts (and the file cache closes and
/// reopens files) always get records exactly as written at their offsets, never an error:
/// a read is done through the descriptors it was planned with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_see_whole_records_during_deletion_and_compaction() {
    for policy in [CleanupPolicy::Delete, CleanupPolicy::Compact] {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_open_files: 2,
            ..Limits::default()
        };
        let log = Arc::new(open(Some(dir.path()), Duration::from_millis(5), &limits));
        let settings = TopicSettings {
            cleanup_policy: policy,
            retention_bytes: Some(4096),
            retention_ms: None,
            segment_bytes: 1024,
            segment_ms: 100,
            ..TopicSettings::default()
        };
        log.add_topic("r", 1, settings).unwrap();
        let p = part(&log, "r");
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for _ in 0..2 {
            let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
            readers.push(std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut from = 0;
                    loop {
                        let mut out = Vec::new();
                        p.read_into(from, 7, usize::MAX, &mut out)
                            .unwrap_or_else(|e| {
                                panic!("read from {from} failed during cleaning: {e}")
                            });
                        let Some(last) = out.last() else { break };
                        for m in &out {
                            assert!(m.offset >= from);
                            assert_eq!(
                                m.value,
                                value_of(m.offset as usize, 40),
                                "offset {}",
                                m.offset
                            );
                        }
                        from = last.offset + 1;
                        reads += 1;
                    }
                }
                reads
            }));
        }
        let started = Instant::now();
        let mut i = 0usize;
        while started.elapsed() < Duration::from_secs(4) {
            let recs = (0..5)
                .map(|k| keyed(&format!("k{}", (i + k) % 7), Some(value_of(i + k, 40))))
                .collect();
            let base = log.append(vec![(Arc::clone(&p), recs)]).await.unwrap()[0];
            assert_eq!(base as usize, i);
            i += 5;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        let kept = read_from(&p, 0).len();
        println!(
            "FIGURES concurrent readers ({policy:?}): {reads} reads, {i} records written, {kept} kept"
        );
        assert!(kept < i / 2, "the cleaner ran ({kept} of {i} kept)");
        assert!(reads > 100, "the readers ran ({reads})");
    }
}

/// The segment files of `dir` (not their indexes, which come and go beside them).
fn files_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.contains(".index"))
        .collect();
    names.sort();
    names
}

/// A crash at each step of a compaction swap: before the rename (a `.cleaned` file left
/// behind), and after it (the replaced segments still there). Each reopens to a consistent
/// log, the old one or the new one, with every record that should be kept.
#[tokio::test]
async fn an_interrupted_compaction_swap_is_finished_or_discarded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("topics/c/0");
    // Written as a topic that keeps everything, then compacted by hand: no pass of the
    // cleaner thread (woken by every roll) can come in between.
    let keep_all = TopicSettings {
        segment_bytes: 256,
        ..TopicSettings::unlimited()
    };
    let (before, after) = {
        let log = open(
            Some(dir.path()),
            Duration::from_secs(3600),
            &Limits::default(),
        );
        log.add_topic("c", 1, keep_all).unwrap();
        let p = part(&log, "c");
        for i in 0..40 {
            let r = keyed(&format!("k{}", i % 3), Some(value_of(i, 30)));
            log.append(vec![(Arc::clone(&p), vec![r])]).await.unwrap();
        }
        let before = read_from(&p, 0);
        let saved: Vec<(String, Vec<u8>)> = files_of(&pdir)
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(pdir.join(&n)).unwrap()))
            .collect();
        assert_eq!(before.len(), 40);
        let compact = SettingsPatch {
            cleanup_policy: Some(CleanupPolicy::Compact),
            ..SettingsPatch::default()
        };
        log.alter_topic("c", &compact).unwrap();
        cleaner::clean_partition(&p, &log.create_lock, Duration::ZERO);
        let after = read_from(&p, 0);
        assert!(
            after.len() < before.len() && after.len() >= 3,
            "{} → {}",
            before.len(),
            after.len()
        );
        let cleaned: Vec<String> = files_of(&pdir)
            .into_iter()
            .filter(|n| n.contains('-'))
            .collect();
        assert!(
            !cleaned.is_empty(),
            "compaction wrote cleaned segments: {:?}",
            files_of(&pdir)
        );
        log.close().await.unwrap();
        drop(log);
        // Crash after the rename, before the replaced files went: they are back beside the
        // cleaned one, and a next cleaning was half written.
        for (name, bytes) in &saved {
            if !pdir.join(name).exists() {
                std::fs::write(pdir.join(name), bytes).unwrap();
            }
        }
        std::fs::write(pdir.join(format!("{:020}-{:020}.cleaned", 0, 5)), b"half").unwrap();
        (before, after)
    };
    let expect = |msgs: &[Message]| -> Vec<(i64, String)> {
        msgs.iter().map(|m| (m.offset, m.value.clone())).collect()
    };
    {
        let log = open(
            Some(dir.path()),
            Duration::from_secs(3600),
            &Limits::default(),
        );
        assert_eq!(
            expect(&read_from(&part(&log, "c"), 0)),
            expect(&after),
            "the swap is finished"
        );
        assert!(files_of(&pdir).iter().all(|n| !n.ends_with(".cleaned")));
        let plain_before_active = files_of(&pdir).iter().filter(|n| !n.contains('-')).count();
        assert_eq!(
            plain_before_active,
            1,
            "only the active segment is plain: {:?}",
            files_of(&pdir)
        );
    }
    // Crash before the rename: the old segments and a half-written `.cleaned` file.
    let dir2 = tempfile::tempdir().unwrap();
    {
        let log = open(
            Some(dir2.path()),
            Duration::from_secs(3600),
            &Limits::default(),
        );
        log.add_topic("c", 1, keep_all).unwrap();
        let p = part(&log, "c");
        for m in &before {
            let r = keyed(&m.key, Some(m.value.clone()));
            log.append(vec![(Arc::clone(&p), vec![r])]).await.unwrap();
        }
        log.close().await.unwrap();
    }
    let pdir2 = dir2.path().join("topics/c/0");
    std::fs::write(
        pdir2.join(format!("{:020}-{:020}.cleaned", 0, 12)),
        b"torn cleaned segment",
    )
    .unwrap();
    let log = open(
        Some(dir2.path()),
        Duration::from_secs(3600),
        &Limits::default(),
    );
    assert_eq!(
        expect(&read_from(&part(&log, "c"), 0)),
        expect(&before),
        "the swap is discarded"
    );
    assert!(files_of(&pdir2).iter().all(|n| !n.ends_with(".cleaned")));
}

/// Retention moves the start offset, and a timestamp lookup never answers a deleted offset.
#[tokio::test]
async fn retention_moves_the_start_offset_and_offsets_for_times_skip_deleted_records() {
    let log = open(None, Duration::from_millis(20), &Limits::default());
    let settings = TopicSettings {
        retention_bytes: Some(1),
        segment_bytes: 64,
        ..TopicSettings::unlimited()
    };
    log.add_topic("s", 1, settings).unwrap();
    let p = part(&log, "s");
    for i in 0..20 {
        let mut r = keyed("k", Some(value_of(i, 60)));
        r.timestamp = 1000 + i as i64;
        log.append(vec![(Arc::clone(&p), vec![r])]).await.unwrap();
    }
    assert!(
        within(Duration::from_secs(5), || p.start_offset() == 19).is_some(),
        "start {}",
        p.start_offset()
    );
    assert_eq!(
        p.offset_for_timestamp(0).map_err(|e| e.to_string()),
        Ok(Some(19)),
        "the first kept record"
    );
    assert_eq!(
        p.offset_for_timestamp(1019).map_err(|e| e.to_string()),
        Ok(Some(19))
    );
    assert_eq!(
        p.offset_for_timestamp(1020).map_err(|e| e.to_string()),
        Ok(None)
    );
}

/// A retention pass interrupted with its unlinks reaching the disk out of order (a power
/// loss) leaves an older segment before a hole: opening finishes the deletion and keeps
/// every newer record, instead of cutting the log at the hole.
#[tokio::test]
async fn a_hole_left_by_an_interrupted_deletion_drops_the_older_side() {
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("topics/h/0");
    let settings = TopicSettings {
        segment_bytes: 256,
        ..TopicSettings::unlimited()
    };
    let written = {
        let log = open(
            Some(dir.path()),
            Duration::from_secs(3600),
            &Limits::default(),
        );
        log.add_topic("h", 1, settings).unwrap();
        let p = part(&log, "h");
        for i in 0..30 {
            let r = keyed("k", Some(value_of(i, 40)));
            log.append(vec![(Arc::clone(&p), vec![r])]).await.unwrap();
        }
        log.close().await.unwrap();
        read_from(&p, 0)
    };
    let segs = files_of(&pdir);
    assert!(segs.len() >= 4, "{segs:?}");
    std::fs::remove_file(pdir.join(&segs[1])).unwrap();
    let third: i64 = segs[2].trim_end_matches(".log").parse().unwrap();
    let log = open(
        Some(dir.path()),
        Duration::from_secs(3600),
        &Limits::default(),
    );
    let p = part(&log, "h");
    assert_eq!(p.start_offset(), third);
    let kept: Vec<&Message> = written.iter().filter(|m| m.offset >= third).collect();
    let got = read_from(&p, 0);
    assert_eq!(
        got.iter().collect::<Vec<_>>(),
        kept,
        "every record after the hole"
    );
    assert!(!pdir.join(&segs[0]).exists(), "the older side is removed");
}

/// Compaction backs off: a partition compacted less than the gap ago is left for a later
/// pass even though segments closed meanwhile, and compacted once the gap has passed.
#[tokio::test]
async fn a_partition_is_compacted_at_most_once_per_gap() {
    // An hour between the thread's passes: every pass here is made by hand.
    let log = open(None, Duration::from_secs(3600), &Limits::default());
    let settings = TopicSettings {
        segment_bytes: 256,
        cleanup_policy: CleanupPolicy::Compact,
        ..TopicSettings::unlimited()
    };
    log.add_topic("c", 1, settings).unwrap();
    let p = part(&log, "c");
    let write = |from: usize| {
        let log = &log;
        let p = Arc::clone(&p);
        async move {
            for i in from..from + 40 {
                let r = keyed(&format!("k{}", i % 3), Some(value_of(i, 30)));
                log.append(vec![(Arc::clone(&p), vec![r])]).await.unwrap();
            }
        }
    };
    write(0).await;
    let gap = Duration::from_millis(300);
    cleaner::clean_partition(&p, &log.create_lock, gap);
    let first = read_from(&p, 0).len();
    assert!(first < 40, "the first pass compacts: {first} of 40 left");
    write(40).await;
    let grown = read_from(&p, 0).len();
    cleaner::clean_partition(&p, &log.create_lock, gap);
    assert_eq!(
        read_from(&p, 0).len(),
        grown,
        "compacted again within the gap"
    );
    std::thread::sleep(gap);
    cleaner::clean_partition(&p, &log.create_lock, gap);
    let later = read_from(&p, 0).len();
    assert!(
        later < grown,
        "compacted once the gap passed: {grown} → {later}"
    );
}
