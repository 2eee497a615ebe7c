//! Sparse segment indexes through the log (issue 19): reads by offset and by time across
//! sparse points, before and after a restart; a restart reads only what it must; a missing,
//! corrupt or stale index is rebuilt from its segment; a data directory written before
//! indexes existed opens and gets them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::index::{self, SparseIndex};
use super::*;
use crate::config::Limits;
use crate::log::settings::CleanupPolicy;

/// A data directory of one topic `t` with segments of 256 KiB, kept whole.
fn open_log(dir: &Path) -> Log {
    open_log_with(dir, 256 * 1024)
}

/// [`open_log`] with segments of `segment_bytes`.
fn open_log_with(dir: &Path, segment_bytes: u64) -> Log {
    Log::open(
        &LogOptions {
            data_dir: Some(dir.to_owned()),
            topic_defaults: TopicSettings {
                segment_bytes,
                ..TopicSettings::unlimited()
            },
            cleaner_interval: Duration::from_secs(3600),
        },
        &Limits::default(),
    )
    .unwrap()
}

fn part(log: &Log) -> Arc<Partition> {
    log.topic("t").unwrap().partition(0).unwrap().clone()
}

/// What was written: per offset, its value and timestamp.
struct Written {
    values: Vec<String>,
    timestamps: Vec<i64>,
}

/// Writes 1,500 records of sizes from 1 B to 12 KiB (a fixed pseudo-random sequence) with
/// timestamps that go back and forth, in batches of 1 to 20: several segments, each with
/// several sparse points, and frames across every position relative to them.
/// [`write_varied`] into a fresh log in `dir`, closed cleanly: the data directory the
/// restart tests open again.
async fn written_and_closed(dir: &Path) -> Written {
    let log = open_log(dir);
    let w = write_varied(&log).await;
    log.close().await.unwrap();
    w
}

async fn write_varied(log: &Log) -> Written {
    write_varied_n(log, 1500).await
}

/// [`write_varied`] of at least `records` records (≈ 6 KiB each on average).
async fn write_varied_n(log: &Log, records: usize) -> Written {
    log.create_topic("t", 1).unwrap();
    let p = part(log);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut written = Written {
        values: Vec::new(),
        timestamps: Vec::new(),
    };
    while written.values.len() < records {
        let n = 1 + (next() % 20) as usize;
        let batch: Vec<StoredRecord> = (0..n)
            .map(|_| {
                let i = written.values.len();
                let len = 1 + (next() % (12 * 1024)) as usize;
                let value: String = format!("{i}:{}", "v".repeat(len));
                let ts = 1_000_000 + (i as i64) * 10 - (next() % 500) as i64;
                written.values.push(value.clone());
                written.timestamps.push(ts);
                StoredRecord {
                    timestamp: ts,
                    key: None,
                    value: Some(value),
                    headers: vec![],
                }
            })
            .collect();
        log.append(vec![(Arc::clone(&p), batch)]).await.unwrap();
    }
    written
}

/// Every offset read alone, and runs of 7 records from every 13th, give what was written;
/// every 37th timestamp (and around it) finds the first record whose running max reaches it.
fn check_reads(p: &Partition, w: &Written) {
    for from in 0..w.values.len() {
        let mut out = Vec::new();
        p.read_into(from as i64, 1, 1, &mut out).unwrap();
        assert_eq!(out.len(), 1, "offset {from}");
        assert_eq!(out[0].offset, from as i64);
        assert_eq!(out[0].value, w.values[from], "offset {from}");
        assert_eq!(out[0].timestamp, w.timestamps[from]);
    }
    for from in (0..w.values.len()).step_by(13) {
        let mut out = Vec::new();
        p.read_into(from as i64, 7, usize::MAX, &mut out).unwrap();
        let want: Vec<i64> = (from..w.values.len().min(from + 7))
            .map(|o| o as i64)
            .collect();
        let got: Vec<i64> = out.iter().map(|m| m.offset).collect();
        assert_eq!(got, want, "7 from {from}");
    }
    // Bytes bound the read too: about 40 KiB from offset 100 crosses at least one point.
    let mut out = Vec::new();
    let bytes = p.read_into(100, usize::MAX, 40 * 1024, &mut out).unwrap();
    assert!(!out.is_empty() && bytes <= 40 * 1024 + 13 * 1024);
    assert!(
        out.iter()
            .enumerate()
            .all(|(i, m)| m.offset == 100 + i as i64)
    );
    let mut all = Vec::new();
    p.read_into(0, usize::MAX, usize::MAX, &mut all).unwrap();
    assert_eq!(all.len(), w.values.len());
    let mut running = i64::MIN;
    let maxes: Vec<i64> = w
        .timestamps
        .iter()
        .map(|t| {
            running = running.max(*t);
            running
        })
        .collect();
    for i in (0..w.values.len()).step_by(37) {
        for ts in [maxes[i] - 1, maxes[i], maxes[i] + 1] {
            let want = maxes.iter().position(|m| *m >= ts).map(|o| o as i64);
            let got = p.offset_for_timestamp(ts).unwrap();
            assert_eq!(got, want, "timestamp {ts}");
        }
    }
    assert_eq!(p.offset_for_timestamp(i64::MAX).unwrap(), None);
}

fn pdir(dir: &Path) -> std::path::PathBuf {
    dir.join("topics").join("t").join("0")
}

/// The segment files (`.log`) of the partition, in offset order.
fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(pdir(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

fn scanned_on_open(p: &Partition) -> u64 {
    match &*p.lock() {
        Store::Disk(d) => d.scanned_bytes(),
        Store::Mem(_) => panic!("not durable"),
    }
}

/// Whether every closed segment has a valid index for its current size.
fn all_closed_indexed(dir: &Path) -> bool {
    let segs = segments(dir);
    segs[..segs.len() - 1].iter().all(|s| {
        let len = std::fs::metadata(s).unwrap().len();
        index::load(s, len).is_some()
    })
}

#[tokio::test]
async fn reads_by_offset_and_time_cross_sparse_points_before_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let w = {
        let log = open_log(dir.path());
        let w = write_varied(&log).await;
        let p = part(&log);
        // Sealed by the writer as segments closed: read through the sparse indexes.
        match &*p.lock() {
            Store::Disk(d) => {
                let n = d.segments.len();
                assert!(n >= 5, "{n} segments");
                assert!(d.segments[..n - 1].iter().all(|s| s.sealed.is_some()));
                assert!(d.segments[..n - 1].iter().all(|s| s.entries.is_empty()));
                let points = d.segments[0].sealed.as_ref().map_or(0, |s| s.points.len());
                assert!(points >= 4, "{points} points");
            }
            Store::Mem(_) => panic!("not durable"),
        }
        check_reads(&p, &w);
        log.close().await.unwrap();
        w
    };
    assert!(all_closed_indexed(dir.path()));
    let log = open_log(dir.path());
    check_reads(&part(&log), &w);
}

/// After a graceful stop every closed segment has its index and the active one its
/// checkpoint: a restart reads no segment at all, and everything reads back.
#[tokio::test]
async fn a_restart_after_a_graceful_stop_reads_no_segment() {
    let dir = tempfile::tempdir().unwrap();
    let w = written_and_closed(dir.path()).await;
    let log = open_log(dir.path());
    let p = part(&log);
    assert_eq!(scanned_on_open(&p), 0);
    check_reads(&p, &w);
}

#[tokio::test]
async fn a_corrupt_missing_or_stale_index_is_rebuilt_from_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let w = written_and_closed(dir.path()).await;
    let segs = segments(dir.path());
    assert!(segs.len() >= 6);
    let len_of = |p: &Path| std::fs::metadata(p).unwrap().len();
    // 0: a flipped byte; 1: cut short; 2: gone; 3: another segment's (valid, wrong size).
    let idx = |i: usize| index::path_for(&segs[i]);
    let mut bytes = std::fs::read(idx(0)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(idx(0), &bytes).unwrap();
    let bytes = std::fs::read(idx(1)).unwrap();
    std::fs::write(idx(1), &bytes[..bytes.len() - 3]).unwrap();
    std::fs::remove_file(idx(2)).unwrap();
    std::fs::copy(idx(4), idx(3)).unwrap();
    assert_ne!(len_of(&segs[3]), len_of(&segs[4]));
    // The active segment's checkpoint is valid: only the four damaged ones are read.
    let expected_scan: u64 = (0..4).map(|i| len_of(&segs[i])).sum::<u64>();
    {
        let log = open_log(dir.path());
        let p = part(&log);
        assert_eq!(scanned_on_open(&p), expected_scan);
        check_reads(&p, &w);
        log.close().await.unwrap();
    }
    assert!(all_closed_indexed(dir.path()));
    let log = open_log(dir.path());
    let p = part(&log);
    assert_eq!(scanned_on_open(&p), 0);
    check_reads(&p, &w);
}

/// A data directory written before indexes existed holds the same `.log` files and nothing
/// else: it opens, reads as written, and every closed segment gets its index once.
#[tokio::test]
async fn a_data_dir_without_indexes_opens_and_gets_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = written_and_closed(dir.path()).await;
    for entry in std::fs::read_dir(pdir(dir.path())).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "index") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let total: u64 = segments(dir.path())
        .iter()
        .map(|s| std::fs::metadata(s).unwrap().len())
        .sum();
    {
        let log = open_log(dir.path());
        let p = part(&log);
        assert_eq!(scanned_on_open(&p), total);
        check_reads(&p, &w);
        log.close().await.unwrap();
    }
    assert!(all_closed_indexed(dir.path()));
    let log = open_log(dir.path());
    let p = part(&log);
    assert!(scanned_on_open(&p) < total / 4);
    check_reads(&p, &w);
}

/// An index left by a segment that is gone (its removal interrupted) does not outlive the
/// next open.
#[tokio::test]
async fn an_index_without_its_segment_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_log(dir.path());
        write_varied(&log).await;
        log.close().await.unwrap();
    }
    let orphan = pdir(dir.path()).join(format!("{:020}.index", 999_999));
    let tmp = pdir(dir.path()).join(format!("{:020}.index.tmp", 0));
    std::fs::write(&orphan, b"x").unwrap();
    std::fs::write(&tmp, b"x").unwrap();
    let log = open_log(dir.path());
    assert!(!orphan.exists() && !tmp.exists());
    assert!(all_closed_indexed(dir.path()));
    drop(log);
}

/// Compaction's cleaned segments (offsets with gaps) get their index when installed; reads
/// by offset land on the next kept record and the index survives a restart.
#[tokio::test]
async fn cleaned_segments_with_gaps_are_indexed_and_read_across_their_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    log.create_topic("t", 1).unwrap();
    let p = part(&log);
    // 30 keys, each written 40 times with 2 KiB values: most versions go.
    for round in 0..40 {
        let batch: Vec<StoredRecord> = (0..30)
            .map(|k| StoredRecord {
                timestamp: 1000 + round * 30 + k,
                key: Some(format!("k{k}")),
                value: Some(format!("{round}:{}", "c".repeat(2048))),
                headers: vec![],
            })
            .collect();
        log.append(vec![(Arc::clone(&p), batch)]).await.unwrap();
    }
    let compact = SettingsPatch {
        cleanup_policy: Some(CleanupPolicy::Compact),
        ..SettingsPatch::default()
    };
    log.alter_topic("t", &compact).unwrap();
    cleaner::clean_partition(&p, &log.create_lock, Duration::ZERO);
    let check = |p: &Partition| {
        let mut all = Vec::new();
        p.read_into(0, usize::MAX, usize::MAX, &mut all).unwrap();
        assert!(all.len() < 1200 && all.len() >= 30, "{} records", all.len());
        let kept: Vec<i64> = all.iter().map(|m| m.offset).collect();
        // From every offset, the next kept one.
        for from in 0..1200i64 {
            let mut out = Vec::new();
            p.read_into(from, 1, 1, &mut out).unwrap();
            assert_eq!(
                out.first().map(|m| m.offset),
                kept.iter().copied().find(|o| *o >= from),
                "from {from}"
            );
        }
        kept
    };
    let kept = check(&p);
    let cleaned: Vec<_> = segments(dir.path())
        .into_iter()
        .filter(|s| s.to_string_lossy().contains('-'))
        .collect();
    assert!(!cleaned.is_empty());
    for s in &cleaned {
        let len = std::fs::metadata(s).unwrap().len();
        let idx = index::load(s, len).expect("a cleaned segment's index");
        assert!(idx.records > 0);
    }
    log.close().await.unwrap();
    drop(log);
    let log = open_log(dir.path());
    assert_eq!(check(&part(&log)), kept);
}

/// A sparse index's bytes decode to what was encoded for a real segment's entries.
#[tokio::test]
async fn a_sealed_segments_index_file_matches_its_memory() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    write_varied(&log).await;
    let p = part(&log);
    let (path, sealed) = match &*p.lock() {
        Store::Disk(d) => (
            d.segments[0].file.path().to_owned(),
            d.segments[0].sealed.clone().unwrap(),
        ),
        Store::Mem(_) => panic!("not durable"),
    };
    log.close().await.unwrap();
    let on_disk = SparseIndex::decode(&std::fs::read(index::path_for(&path)).unwrap());
    assert_eq!(on_disk, Some(sealed));
}

fn batch(n: usize, len: usize) -> Vec<StoredRecord> {
    (0..n)
        .map(|i| StoredRecord {
            timestamp: 1000 + i as i64,
            key: None,
            value: Some(format!("{i}:{}", "m".repeat(len))),
            headers: vec![],
        })
        .collect()
}

fn mark(key: &str, stored_at: i64, n: u32) -> record::BatchMark {
    record::BatchMark {
        key: key.into(),
        fingerprint: [7; 16],
        stored_at,
        request_len: n,
        runs: vec![(0, n)],
    }
}

/// Idempotency keys come back from sealed segments: a keyed batch spread over three segments
/// by rolls is recovered whole, while a segment whose only mark is older than the window is
/// not read at all on open.
#[tokio::test]
async fn marks_in_sealed_segments_are_recovered_and_old_ones_cost_no_scan() {
    let dir = tempfile::tempdir().unwrap();
    let now = crate::backend::clock::now_ms();
    {
        let log = open_log(dir.path());
        log.create_topic("t", 1).unwrap();
        let p = part(&log);
        let old = mark("old", now - 2 * 3600 * 1000, 1);
        log.append_marked(vec![(Arc::clone(&p), batch(1, 100))], None, move || {
            vec![old]
        })
        .await
        .unwrap();
        for _ in 0..3 {
            log.append(vec![(Arc::clone(&p), batch(20, 12 * 1024))])
                .await
                .unwrap();
        }
        let recent = mark("recent", now, 60);
        log.append_marked(
            vec![(Arc::clone(&p), batch(60, 12 * 1024))],
            None,
            move || vec![recent],
        )
        .await
        .unwrap();
        for _ in 0..3 {
            log.append(vec![(Arc::clone(&p), batch(20, 12 * 1024))])
                .await
                .unwrap();
        }
        log.close().await.unwrap();
    }
    let segs = segments(dir.path());
    let len_of = |p: &Path| std::fs::metadata(p).unwrap().len();
    let marked: Vec<&std::path::PathBuf> = segs[..segs.len() - 1]
        .iter()
        .filter(|s| {
            index::load(s, len_of(s)).is_some_and(|i| i.marks_until.is_some_and(|m| m >= now))
        })
        .collect();
    assert!(
        marked.len() >= 3,
        "{} segments hold the recent batch",
        marked.len()
    );
    let old_mark = index::load(&segs[0], len_of(&segs[0])).unwrap();
    assert_eq!(old_mark.marks_until, Some(now - 2 * 3600 * 1000));
    // The active segment is read only if its checkpoint says it holds a mark of the window.
    let active = segs.last().unwrap();
    let active_marked = index::load_prefix(active, len_of(active))
        .is_some_and(|i| i.marks_until.is_some_and(|m| m >= now));
    let log = open_log(dir.path());
    let expected: u64 = marked.iter().map(|s| len_of(s)).sum::<u64>()
        + if active_marked { len_of(active) } else { 0 };
    assert_eq!(scanned_on_open(&part(&log)), expected);
    let recovered = log.take_recovered_batches();
    assert_eq!(recovered.len(), 1);
    assert_eq!(&*recovered[0].key, "recent");
    assert_eq!(recovered[0].records.len(), 60);
}

/// 4,000 varied records (≈ 24 MiB) into one active segment of a log that is then dropped
/// without a graceful stop (as by `kill -9`: the writer had fsynced and acknowledged them
/// all). Returns what was written and the checkpoint the writer left.
async fn written_then_killed(dir: &Path) -> (Written, SparseIndex) {
    let log = open_log_with(dir, 1 << 30);
    let w = write_varied_n(&log, 4000).await;
    drop(log);
    let segs = segments(dir);
    assert_eq!(segs.len(), 1, "one active segment");
    let len = std::fs::metadata(&segs[0]).unwrap().len();
    let checkpoint = index::load_prefix(&segs[0], len).expect("a checkpoint after 16 MiB");
    assert!(checkpoint.size >= segment::CHECKPOINT_BYTES && checkpoint.size < len);
    (w, checkpoint)
}

fn active_dense_entries(p: &Partition) -> usize {
    match &*p.lock() {
        Store::Disk(d) => d.segments.last().map_or(0, |s| s.entries.len()),
        Store::Mem(_) => panic!("not durable"),
    }
}

/// The writer checkpoints the active segment every 16 MiB: its records before the checkpoint
/// cost sparse points, not an entry each, and a restart after `kill -9` scans only the frames
/// written after it; reads by offset and time are the same on both sides of it.
#[tokio::test]
async fn a_kill_9_restart_scans_only_what_follows_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (w, checkpoint) = written_then_killed(dir.path()).await;
    let len = std::fs::metadata(&segments(dir.path())[0]).unwrap().len();
    let log = open_log_with(dir.path(), 1 << 30);
    let p = part(&log);
    assert_eq!(scanned_on_open(&p), len - checkpoint.size);
    let tail = w.values.len() - checkpoint.records as usize;
    assert_eq!(active_dense_entries(&p), tail);
    check_reads(&p, &w);
    // A graceful stop checkpoints the rest: the next start reads nothing.
    log.close().await.unwrap();
    drop(log);
    let log = open_log_with(dir.path(), 1 << 30);
    let p = part(&log);
    assert_eq!(scanned_on_open(&p), 0);
    assert_eq!(active_dense_entries(&p), 0);
    check_reads(&p, &w);
    // Appends go on after a checkpointed prefix, and a rollback-free restart finds them.
    let more = batch(3, 10);
    assert_eq!(
        log.append(vec![(Arc::clone(&p), more)]).await.unwrap()[..],
        [w.values.len() as i64]
    );
    log.close().await.unwrap();
    drop(log);
    let log = open_log_with(dir.path(), 1 << 30);
    assert_eq!(part(&log).end_offset(), w.values.len() as i64 + 3);
}

/// A way of damaging a copy of a data directory.
type Damage<'a> = Box<dyn Fn(&Path) + 'a>;

/// What a crash can leave behind a checkpoint is cut as before (an exact prefix of the
/// records); a checkpoint the file does not bear out (the file is shorter, the frames at its
/// last point differ, or the checkpoint itself is damaged) is not trusted: the whole
/// segment is scanned and nothing valid is lost.
#[tokio::test]
async fn damage_behind_or_under_a_checkpoint_never_loses_a_valid_record() {
    let template = tempfile::tempdir().unwrap();
    let (w, checkpoint) = written_then_killed(template.path()).await;
    let seg_of = |dir: &Path| segments(dir)[0].clone();
    let seg = seg_of(template.path());
    let bytes = std::fs::read(&seg).unwrap();
    // Where each frame of the segment ends.
    let mut ends = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let head: [u8; super::record::FRAME_HEADER] = bytes[at..at + super::record::FRAME_HEADER]
            .try_into()
            .unwrap();
        at += super::record::FRAME_HEADER + super::record::frame_header(&head).0;
        ends.push(at as u64);
    }
    assert_eq!(ends.len(), w.values.len());
    // Records left by damage at byte `pos`: those whose frames end at or before it.
    let kept_before = |pos: u64| ends.iter().take_while(|e| **e <= pos).count();
    let last_point = checkpoint.points.last().unwrap().pos;
    let flip_at = (last_point + checkpoint.size) / 2;
    // (what, the damage, whether the whole segment is scanned, records left)
    let cases: Vec<(&str, Damage, bool, usize)> = vec![
        (
            "cut behind the checkpoint",
            Box::new(|d: &Path| {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(seg_of(d))
                    .unwrap();
                f.set_len(checkpoint.size + 1000).unwrap();
            }),
            false,
            kept_before(checkpoint.size + 1000),
        ),
        (
            "cut under the checkpoint",
            Box::new(|d: &Path| {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(seg_of(d))
                    .unwrap();
                f.set_len(checkpoint.size - 1000).unwrap();
            }),
            true,
            kept_before(checkpoint.size - 1000),
        ),
        (
            "a flipped byte after its last point",
            Box::new(|d: &Path| {
                let mut b = bytes.clone();
                b[flip_at as usize] ^= 0x01;
                std::fs::write(seg_of(d), b).unwrap();
            }),
            true,
            kept_before(flip_at),
        ),
        (
            "a damaged checkpoint",
            Box::new(|d: &Path| {
                let idx = index::path_for(&seg_of(d));
                let mut b = std::fs::read(&idx).unwrap();
                b[20] ^= 0x01;
                std::fs::write(idx, b).unwrap();
            }),
            true,
            w.values.len(),
        ),
    ];
    for (what, damage, full_scan, kept) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(pdir(dir.path())).unwrap();
        for entry in std::fs::read_dir(template.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        for entry in std::fs::read_dir(pdir(template.path())).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), pdir(dir.path()).join(entry.file_name())).unwrap();
        }
        damage(dir.path());
        let len = std::fs::metadata(seg_of(dir.path())).unwrap().len();
        let log = open_log_with(dir.path(), 1 << 30);
        let p = part(&log);
        let scanned = scanned_on_open(&p);
        if full_scan {
            assert_eq!(scanned, len, "{what}: the whole segment is scanned");
        } else {
            assert_eq!(
                scanned,
                len - checkpoint.size,
                "{what}: only past the checkpoint"
            );
        }
        let mut all = Vec::new();
        p.read_into(0, usize::MAX, usize::MAX, &mut all).unwrap();
        assert_eq!(all.len(), kept, "{what}: an exact prefix is left");
        for (i, m) in all.iter().enumerate() {
            assert_eq!(m.offset, i as i64, "{what}");
            assert_eq!(m.value, w.values[i], "{what}: offset {i}");
        }
        // The log goes on at the next offset.
        let next = log
            .append(vec![(Arc::clone(&p), batch(1, 10))])
            .await
            .unwrap();
        assert_eq!(next[..], [all.len() as i64], "{what}");
    }
}

/// The active segment's checkpoint records its idempotency marks: when one is within the
/// window, a restart scans the segment (only a scan finds the marks) and the keyed batch is
/// recovered.
#[tokio::test]
async fn a_checkpointed_active_segment_with_a_recent_mark_is_scanned_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let now = crate::backend::clock::now_ms();
    {
        let log = open_log_with(dir.path(), 1 << 30);
        log.create_topic("t", 1).unwrap();
        let p = part(&log);
        let recent = mark("recent", now, 5);
        log.append_marked(vec![(Arc::clone(&p), batch(5, 100))], None, move || {
            vec![recent]
        })
        .await
        .unwrap();
        log.close().await.unwrap();
    }
    let seg = segments(dir.path())[0].clone();
    let len = std::fs::metadata(&seg).unwrap().len();
    let checkpoint = index::load_prefix(&seg, len).expect("a checkpoint on a graceful stop");
    assert_eq!(checkpoint.records, 5);
    assert_eq!(checkpoint.marks_until, Some(now));
    let log = open_log_with(dir.path(), 1 << 30);
    assert_eq!(scanned_on_open(&part(&log)), len);
    let recovered = log.take_recovered_batches();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].records.len(), 5);
}
