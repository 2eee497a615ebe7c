//! The group-commit writer of a durable log.
//!
//! One OS thread owns all appends to disk. It blocks for the first queued batch, then takes
//! every other batch already waiting, writes them (one lock and one `write` per partition per
//! batch), fsyncs each touched segment file once, publishes the new end offsets (waking
//! long-polls), and only then acknowledges all of those batches. Producers that arrive while an
//! fsync runs therefore share the next one.
//!
//! A batch whose write fails (its partition's file cannot be opened, the disk is full) is
//! taken back at once and answered with that error alone; the others of the round go on. A
//! failed fsync takes the whole round back. Either way nothing of a failed batch becomes
//! visible or acknowledged, and the partition takes the next append where it stood.

use std::fs::File;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::cleaner::Signal;
use super::segment::{CHECKPOINT_BYTES, DiskStore, Mark};
use super::{Append, Bases, BatchMark, Partition, Store, record};
use crate::error::BackendError;

/// Most batches drained into one round (bounds the latency of the first one).
const MAX_BATCHES_PER_ROUND: usize = 4096;

type Reply = oneshot::Sender<Result<Bases, BackendError>>;

struct Job {
    groups: Append,
    /// The idempotency mark of each group's first record (issue 16), when keyed.
    marks: Option<Vec<BatchMark>>,
    reply: Reply,
}

/// Handle to the writer thread.
#[derive(Debug)]
pub(super) struct Writer {
    tx: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("groups", &self.groups.len())
            .finish()
    }
}

impl Writer {
    /// Starts the writer thread; it wakes `cleaner` after a round that rolled a segment.
    pub(super) fn start(cleaner: Arc<Signal>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("upkafka-log-writer".into())
            .spawn(move || {
                run(rx, &cleaner);
                let _ = done_tx.send(());
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("cannot start the log writer thread: {e}"));
        Self {
            tx: Mutex::new(Some(tx)),
            done: Mutex::new(Some(done_rx)),
        }
    }

    pub(super) async fn submit(&self, groups: Append) -> Result<Bases, BackendError> {
        self.submit_marked(groups, None).await
    }

    /// [`Writer::submit`] with the idempotency mark of each group (`marks[i]` for `groups[i]`).
    pub(super) async fn submit_marked(
        &self,
        groups: Append,
        marks: Option<Vec<BatchMark>>,
    ) -> Result<Bases, BackendError> {
        let (reply, rx) = oneshot::channel();
        {
            let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            let tx = guard.as_ref().ok_or(BackendError::ShuttingDown)?;
            tx.send(Job {
                groups,
                marks,
                reply,
            })
            .map_err(|_| BackendError::ShuttingDown)?;
        }
        rx.await.map_err(|_| BackendError::ShuttingDown)?
    }

    /// Closes the queue and waits until everything queued is written and fsynced.
    pub(super) async fn close(&self) -> Result<(), BackendError> {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(done) = done {
            let _ = done.await;
        }
        Ok(())
    }
}

fn run(mut rx: mpsc::UnboundedReceiver<Job>, cleaner: &Signal) {
    let mut round: Vec<Job> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut lens: Vec<u32> = Vec::new();
    let mut max_ts: Vec<i64> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        round.push(first);
        while round.len() < MAX_BATCHES_PER_ROUND {
            match rx.try_recv() {
                Ok(job) => round.push(job),
                Err(_) => break,
            }
        }
        if write_round(&mut round, &mut buf, &mut lens, &mut max_ts) {
            cleaner.wake();
        }
    }
}

/// Most threads fsyncing the files of one round at once.
const MAX_SYNC_THREADS: usize = 16;

/// Fsyncs (`fdatasync`) every file of a round; the first error, if any.
///
/// A round that touched several partitions has one file per partition to sync. One after the
/// other, each `fdatasync` of an appended file waits for its own journal commit, so a batch
/// spread over 256 partitions took 256 commits in a row (`bench/curves.sh`, partitions curve:
/// 22k msg/s against 1.08M on one partition). Issued from several threads at once, the
/// filesystem folds the waiting syncs into shared journal commits and the device sees them
/// together. Threads are scoped to the call: a round that syncs several files costs
/// milliseconds, against which starting a few threads is noise, and a round with one file
/// (the common case of one hot partition) starts none.
fn sync_files(files: &[Arc<File>]) -> std::io::Result<()> {
    if files.len() <= 1 {
        return files.iter().try_for_each(|f| f.sync_data());
    }
    let threads = files.len().min(MAX_SYNC_THREADS);
    let share = |t: usize| {
        files
            .iter()
            .skip(t)
            .step_by(threads)
            .try_for_each(|f| f.sync_data())
    };
    std::thread::scope(|scope| {
        let mut first = Ok(());
        let mut workers = Vec::with_capacity(threads);
        for t in 1..threads {
            match std::thread::Builder::new()
                .name("upkafka-log-fsync".into())
                .spawn_scoped(scope, move || share(t))
            {
                Ok(w) => workers.push(w),
                // No thread to be had: this one syncs that share too.
                Err(_) => first = first.and(share(t)),
            }
        }
        first = first.and(share(0));
        for w in workers {
            let outcome = w
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("an fsync thread panicked")));
            first = first.and(outcome);
        }
        first
    })
}

/// Per partition touched in a round: where it stood before, to publish or roll back.
struct Touched {
    part: Arc<Partition>,
    mark: Mark,
}

fn with_disk<T>(p: &Partition, f: impl FnOnce(&mut DiskStore) -> T) -> Option<T> {
    let mut guard = p.lock();
    match &mut *guard {
        Store::Disk(d) => Some(f(d)),
        Store::Mem(_) => None,
    }
}

/// Writes, fsyncs and answers one round; returns whether a segment rolled (for the cleaner).
fn write_round(
    round: &mut Vec<Job>,
    buf: &mut Vec<u8>,
    lens: &mut Vec<u32>,
    max_ts: &mut Vec<i64>,
) -> bool {
    let mut rolled = false;
    let mut touched: Vec<Touched> = Vec::new();
    // Every file written, kept open until it is fsynced through this very descriptor (the
    // file cache may close its own reference meanwhile).
    let mut files: Vec<Arc<File>> = Vec::new();
    let mut results: Vec<Result<Bases, BackendError>> = Vec::with_capacity(round.len());

    for job in round.iter() {
        let mut bases = Bases::with_capacity(job.groups.len());
        // Where this job's partitions stood before it: a job that fails is taken back alone,
        // so one partition that cannot be written (e.g. its file cannot be opened) does not
        // fail the other producers of the round.
        let mut marks: Vec<Touched> = Vec::new();
        let mut failure: Option<BackendError> = None;
        for (gi, (part, records)) in job.groups.iter().enumerate() {
            let roll = part.roll_policy();
            let mark = job.marks.as_ref().and_then(|m| m.get(gi));
            let outcome = with_disk(part, |d| {
                if !touched.iter().any(|t| Arc::ptr_eq(&t.part, part)) {
                    touched.push(Touched {
                        part: Arc::clone(part),
                        mark: d.mark(),
                    });
                }
                marks.push(Touched {
                    part: Arc::clone(part),
                    mark: d.mark(),
                });
                let base = d.next_offset();
                buf.clear();
                lens.clear();
                max_ts.clear();
                let mut m = d.last_max_ts();
                for (i, r) in records.iter().enumerate() {
                    let first = if i == 0 { mark } else { None };
                    lens.push(record::encode_marked(buf, base + i as i64, r, first) as u32);
                    m = m.max(r.timestamp);
                    max_ts.push(m);
                }
                d.append_frames(
                    buf,
                    lens,
                    max_ts,
                    mark.map(|m| m.stored_at),
                    roll,
                    &mut files,
                )
                .map(|()| base)
            });
            match outcome {
                Some(Ok(base)) => bases.push(base),
                Some(Err(e)) => {
                    failure = Some(BackendError::storage(
                        format_args!("writing to {}/{}", part.topic(), part.id()),
                        &e,
                    ));
                    break;
                }
                None => {
                    failure = Some(BackendError::Internal(
                        "durable append on an in-memory partition".into(),
                    ));
                    break;
                }
            }
        }
        match failure {
            None => results.push(Ok(bases)),
            Some(e) => {
                tracing::error!("log write failed, taking the produce back: {e}");
                for t in marks.iter().rev() {
                    with_disk(&t.part, |d| d.rollback(t.mark));
                }
                results.push(Err(e));
            }
        }
    }

    let mut synced = Ok(());
    if results.iter().any(Result::is_ok) {
        synced =
            sync_files(&files).map_err(|e| BackendError::storage("fsyncing segment files", &e));
    }
    drop(files);

    match synced {
        Ok(()) => {
            let mut indexes = Vec::new();
            for t in &touched {
                let end = with_disk(&t.part, |d| {
                    d.visible = d.next_offset();
                    rolled |= d.rolled_since(t.mark);
                    // A segment followed by an acknowledged record is closed: its dense
                    // entries give way to a sparse index, written below, outside the lock.
                    if d.needs_seal() {
                        indexes.extend(d.seal_closed());
                    }
                    // Past a checkpoint interval of acknowledged frames, the active
                    // segment's dense entries give way to its sparse prefix the same way.
                    if d.needs_checkpoint(CHECKPOINT_BYTES) {
                        indexes.extend(d.checkpoint_active());
                    }
                    d.visible
                });
                if let Some(end) = end {
                    t.part.publish(end);
                }
            }
            for (job, result) in round.drain(..).zip(results) {
                let _ = job.reply.send(result);
            }
            for (path, bytes) in indexes {
                super::index::store_or_warn(&path, &bytes);
            }
        }
        Err(e) => {
            tracing::error!("fsync failed, rolling back the round: {e}");
            for t in &touched {
                with_disk(&t.part, |d| {
                    d.rollback(t.mark);
                    let _ = d.sync();
                });
            }
            for job in round.drain(..) {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
    rolled
}

/// Writes `jobs` as one round, as the writer thread would if they were queued together, and
/// returns each one's answer (for tests that need several batches in the same round).
#[cfg(test)]
pub(super) fn write_as_one_round(
    jobs: Vec<Vec<(Arc<Partition>, Vec<super::StoredRecord>)>>,
) -> Vec<Result<Bases, BackendError>> {
    let mut rxs = Vec::new();
    let mut round: Vec<Job> = jobs
        .into_iter()
        .map(|groups| {
            let (reply, rx) = oneshot::channel();
            rxs.push(rx);
            Job {
                groups: groups.into(),
                marks: None,
                reply,
            }
        })
        .collect();
    write_round(
        &mut round,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut Vec::new(),
    );
    rxs.into_iter()
        .map(|mut rx| {
            rx.try_recv()
                .unwrap_or_else(|_| Err(BackendError::Internal("no answer".into())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular_files(dir: &std::path::Path, n: usize) -> Vec<Arc<File>> {
        (0..n)
            .map(|i| {
                let f = File::create(dir.join(format!("{i}.log"))).unwrap();
                std::io::Write::write_all(&mut &f, b"frame").unwrap();
                Arc::new(f)
            })
            .collect()
    }

    #[test]
    fn syncing_a_round_reports_the_failure_of_any_file_among_many() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0, 1, 2, MAX_SYNC_THREADS, 3 * MAX_SYNC_THREADS + 5] {
            assert!(
                sync_files(&regular_files(dir.path(), n)).is_ok(),
                "{n} files"
            );
        }
        // fdatasync of a pipe fails (EINVAL): wherever it sits among the files, and whichever
        // thread's share it falls in, the round's sync fails.
        for at in [0, 1, 7, 40] {
            let mut files = regular_files(dir.path(), 41);
            let (reader, _writer) = std::io::pipe().unwrap();
            files[at] = Arc::new(File::from(std::os::fd::OwnedFd::from(reader)));
            assert!(sync_files(&files).is_err(), "a pipe at {at}");
        }
        let (reader, _writer) = std::io::pipe().unwrap();
        let lone = [Arc::new(File::from(std::os::fd::OwnedFd::from(reader)))];
        assert!(sync_files(&lone).is_err(), "a lone pipe");
    }
}
