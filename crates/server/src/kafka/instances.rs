//! REST consumer instances of the gateway: one librdkafka consumer per `(group, instance)`.
//!
//! Each instance is a real member of the Kafka consumer group `group`, with the REST instance
//! id as its static member id (`group.instance.id`, KIP-345), configured once from the
//! `Kafka-*` headers of the consume that created it. Native consumers of the same group share
//! the partitions with it; a gateway restart re-creates it under the same member id, so the
//! group does not rebalance while the gateway is briefly away.
//!
//! Leaving the group: librdkafka sends no LeaveGroup when a static member's consumer is
//! closed (so that a restart does not rebalance), but it does when the member unsubscribes.
//! `DELETE /delete-consumer` and idle expiry therefore unsubscribe first ([`Instance::leave`]):
//! the instance disappears from `/consumers`, stops consuming, and its partitions move to the
//! group's other members at once. A gateway shutdown closes without leaving, so the member
//! stays in the group until its session times out, and a restarted gateway takes its
//! partitions back without a rebalance.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use crate::backend::checks::InstanceCaps;
use crate::error::BackendError;
use upkafka_protocol::{
    AutoOffsetReset, ConsumerConfig, GroupAssignments, InstanceAssignments, Message,
    TopicAssignments, TopicPartitionOffset,
};

use super::convert::{backend_error, to_message};

/// Longest a consume waits for its instance to join the group (beyond its own `timeout`).
const JOIN_WAIT: Duration = Duration::from_secs(15);

/// Serves the group's rebalances for one instance and notes when it got its partitions.
#[derive(Debug)]
pub(super) struct InstanceContext {
    assigned: std::sync::atomic::AtomicBool,
    /// The assignors are cooperative (`partition.assignment.strategy=cooperative-sticky`):
    /// rebalances add and remove partitions instead of replacing the whole assignment.
    /// Known from the configuration, so a rebalance never has to ask librdkafka (see
    /// [`InstanceContext::rebalance`]).
    cooperative: bool,
}

impl InstanceContext {
    /// A context for a consumer whose `partition.assignment.strategy` is `strategy` and
    /// `group.protocol` is `protocol` (librdkafka's defaults, the eager `range,roundrobin` of
    /// the classic protocol, when `None`). The KIP-848 protocol (`consumer`) is always
    /// incremental.
    pub(super) fn new(strategy: Option<&str>, protocol: Option<&str>) -> Self {
        Self {
            assigned: std::sync::atomic::AtomicBool::new(false),
            cooperative: strategy.is_some_and(|s| s.contains("cooperative"))
                || protocol.is_some_and(|p| p.trim().eq_ignore_ascii_case("consumer")),
        }
    }
}

impl ClientContext for InstanceContext {}

impl ConsumerContext for InstanceContext {
    /// rust-rdkafka's default strategy, with one difference: once the consumer is closed,
    /// a rebalance event still queued is dropped instead of served.
    ///
    /// librdkafka 2.12 (its issue 4884) can hand out an assignment event after the consumer
    /// group sub-system has terminated during close; `rd_kafka_assign` (and
    /// `rd_kafka_rebalance_protocol`, which the default asks first) then waits forever for
    /// an answer nobody sends. Dropping an instance whose group was mid-rebalance hung
    /// that way, and with it a gateway's shutdown. A closed consumer has nothing left to
    /// assign, so skipping the call loses nothing.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut rdkafka::TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr;
        if consumer.closed() {
            tracing::debug!(?err, "kafka: rebalance after close ignored");
            return;
        }
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let done = if self.cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if done.is_ok() {
                    self.assigned.store(true, Ordering::SeqCst);
                }
                done
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS if self.cooperative => {
                consumer.incremental_unassign(tpl)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => consumer.unassign(),
            other => {
                // What the default does with a rebalance error: give everything up.
                tracing::warn!(error = %RDKafkaErrorCode::from(other), "kafka: rebalance failed");
                if self.cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "kafka: could not apply a rebalance");
        }
    }
}

/// The consumer type of an instance.
pub(super) type InstanceConsumer = StreamConsumer<InstanceContext>;

/// One REST consumer instance.
pub(super) struct Instance {
    pub(super) group: String,
    pub(super) id: String,
    pub(super) consumer: Arc<InstanceConsumer>,
    /// Joined the group (for the current subscription) and knows where to read each of its
    /// partitions from.
    ready: std::sync::atomic::AtomicBool,
    /// The subscription, as last asked for.
    topics: Mutex<Vec<String>>,
    /// When the last consume finished (or the instance was created).
    last_used: Mutex<Instant>,
    /// Consumes in progress: an instance is never expired while one waits.
    in_flight: AtomicUsize,
    /// One poll at a time: concurrent consumes of one instance take turns.
    poll: tokio::sync::Mutex<()>,
    /// The session timeout, which is also the REST idle timeout (spec §12 question 12).
    pub(super) idle_timeout: Duration,
    reset: AutoOffsetReset,
    /// Auto-commit is on (librdkafka commits the stored offsets on its interval).
    auto_commit: bool,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("group", &self.group)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One consume in progress on an instance: counted from [`InFlight::enter`] until dropped,
/// which also marks the instance used. A guard rather than a decrement after the `.await`, so
/// that a dropped request future (cancellation) gives the count back too.
struct InFlight<'a>(&'a Instance);

impl<'a> InFlight<'a> {
    fn enter(instance: &'a Instance) -> Self {
        instance.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(instance)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Limits of one poll.
#[derive(Debug, Clone, Copy)]
pub(super) struct PollLimits {
    pub(super) max_records: usize,
    pub(super) max_bytes: usize,
}

impl Instance {
    pub(super) fn new(
        group: String,
        id: String,
        consumer: InstanceConsumer,
        config: &ConsumerConfig,
    ) -> Self {
        Self {
            group,
            id,
            consumer: Arc::new(consumer),
            ready: std::sync::atomic::AtomicBool::new(false),
            topics: Mutex::new(Vec::new()),
            last_used: Mutex::new(Instant::now()),
            in_flight: AtomicUsize::new(0),
            poll: tokio::sync::Mutex::new(()),
            idle_timeout: Duration::from_millis(
                config
                    .session_timeout_ms
                    .unwrap_or(ConsumerConfig::DEFAULT_SESSION_TIMEOUT_MS),
            ),
            reset: config.auto_offset_reset.unwrap_or(AutoOffsetReset::Latest),
            auto_commit: config
                .auto_commit
                .unwrap_or(ConsumerConfig::DEFAULT_AUTO_COMMIT),
        }
    }

    /// Whether `topic` is one of its subscription's topics.
    pub(super) fn subscribed_to(&self, topic: &str) -> bool {
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|t| t == topic)
    }

    /// Subscribes to exactly `topics` unless that is already the subscription (spec §12
    /// question 13: a different list resubscribes).
    pub(super) fn subscribe(&self, topics: &[String]) -> Result<(), BackendError> {
        let mut current = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        if *current == topics {
            return Ok(());
        }
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .context()
            .assigned
            .store(false, Ordering::SeqCst);
        self.ready.store(false, Ordering::SeqCst);
        self.consumer
            .subscribe(&names)
            .map_err(|e| backend_error("subscribe", &e))?;
        *current = topics.to_vec();
        Ok(())
    }

    /// Leaves the group (see `close_instance`): unsubscribes, serves the revocation and gives
    /// librdkafka a moment to send LeaveGroup. Any record `recv` returns here was never
    /// answered; its offset is not stored, so it is not committed.
    pub(super) async fn leave(&self, wait: Duration) {
        let _turn = self.poll.lock().await;
        self.consumer.unsubscribe();
        let deadline = tokio::time::Instant::now() + wait;
        let mut unassigned_since: Option<tokio::time::Instant> = None;
        while tokio::time::Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(20), self.consumer.recv()).await;
            let unassigned = self.consumer.assignment().map_or(true, |t| t.count() == 0);
            match (unassigned, unassigned_since) {
                (false, _) => unassigned_since = None,
                (true, None) => unassigned_since = Some(tokio::time::Instant::now()),
                // The LeaveGroup goes out right after the revocation is done.
                (true, Some(t)) if t.elapsed() >= Duration::from_millis(100) => break,
                (true, Some(_)) => {}
            }
        }
    }

    /// Waits up to `timeout` for records, then returns at once with what is there (at most
    /// `limits`). Records handed out here count as consumed: their offsets are what a later
    /// commit without a body (or auto-commit) stores.
    pub(super) async fn poll(
        &self,
        timeout: Duration,
        limits: PollLimits,
    ) -> Result<Vec<Message>, BackendError> {
        // Counted until this future completes or is dropped (the client went away, the
        // server shuts down): a cancelled consume must not keep the instance from expiring.
        let _in_flight = InFlight::enter(self);
        let _turn = self.poll.lock().await;
        self.poll_turn(timeout, limits).await
    }

    /// Our choice for the first consume of an instance (and the first after a resubscribe):
    /// it waits, up to `JOIN_WAIT` beyond its `timeout`, until the instance has joined the
    /// group and the broker has answered for each assigned partition (so the start offsets
    /// are resolved), then waits `timeout` for data as every consume does. The embedded log assigns at once; without this wait the first consumes on
    /// Kafka would come back empty during the group join, and a record produced meanwhile
    /// could fall before a `latest` start that was not resolved yet.
    async fn poll_turn(
        &self,
        timeout: Duration,
        limits: PollLimits,
    ) -> Result<Vec<Message>, BackendError> {
        let fatal = |e: &KafkaError| self.fatal_poll_error(e);
        let mut out = Vec::new();
        let joining = !self.ready.load(Ordering::SeqCst);
        if joining {
            let deadline = tokio::time::Instant::now() + JOIN_WAIT + timeout;
            loop {
                out = poll_consumer(
                    &self.consumer,
                    Duration::from_millis(50),
                    limits,
                    Settle::default(),
                    fatal,
                )
                .await?;
                if !out.is_empty() || self.consumer.context().assigned.load(Ordering::SeqCst) {
                    self.ready.store(true, Ordering::SeqCst);
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(out);
                }
            }
        }
        // Every assigned partition the join did not already deliver from: wait until the
        // broker answered for each (and then `timeout` for data if there is none yet). After
        // a join this is also what resolves the start offsets: a partition reports its end
        // only once librdkafka knows where it starts.
        // (librdkafka reports an end once per partition until new data comes, so only the
        // consume that joined can wait for it; later ones find their data already fetched.)
        let mut settle = Settle::default();
        if joining && let Ok(tpl) = self.consumer.assignment() {
            for e in tpl.elements() {
                if !out
                    .iter()
                    .any(|m| m.partition == e.partition() && m.topic == e.topic())
                {
                    settle.insert(e.topic(), e.partition());
                }
            }
        }
        let used: usize = out.iter().map(Message::size).sum();
        let rest = PollLimits {
            max_records: limits.max_records.max(1).saturating_sub(out.len()),
            max_bytes: limits.max_bytes.saturating_sub(used),
        };
        if rest.max_records > 0 && rest.max_bytes > 0 {
            let wait = if out.is_empty() {
                timeout
            } else {
                Duration::ZERO
            };
            out.extend(poll_consumer(&self.consumer, wait, rest, settle, fatal).await?);
        }
        self.store_delivered(&out);
        Ok(out)
    }

    /// Prepares an event stream of this instance (see `Backend::open_stream`): joins the
    /// group if it has not yet (records polled while joining are dropped: every partition is
    /// repositioned below, so they are fetched again), then positions every assigned
    /// partition at the offset `resume` names for it, else at the group's committed offset,
    /// else where the reset policy says (`earliest`: the log start, `latest`: its end,
    /// `none`: an error naming the partition). With auto-commit on, a resumed partition's
    /// offset is stored as consumed, so the next auto-commit counts what the client
    /// acknowledged. Answers the start of each assigned partition; none when the join did not
    /// finish within `JOIN_WAIT` (the stream's consumes then start where librdkafka does: the
    /// commits, else the reset policy).
    pub(super) async fn reposition(
        &self,
        resume: &[TopicPartitionOffset],
        timeout: Duration,
    ) -> Result<Vec<TopicPartitionOffset>, BackendError> {
        let _in_flight = InFlight::enter(self);
        let _turn = self.poll.lock().await;
        if !self.ready.load(Ordering::SeqCst) {
            let deadline = tokio::time::Instant::now() + JOIN_WAIT;
            let fatal = |e: &KafkaError| self.fatal_poll_error(e);
            let limits = PollLimits {
                max_records: usize::MAX,
                max_bytes: usize::MAX,
            };
            while !self.consumer.context().assigned.load(Ordering::SeqCst) {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(
                        group = %self.group,
                        instance = %self.id,
                        "event stream: the group join did not finish in time"
                    );
                    return Ok(Vec::new());
                }
                let dropped = poll_consumer(
                    &self.consumer,
                    Duration::from_millis(50),
                    limits,
                    Settle::default(),
                    fatal,
                )
                .await?;
                drop(dropped);
            }
            self.ready.store(true, Ordering::SeqCst);
        }
        let assigned = self
            .consumer
            .assignment()
            .map_err(|e| backend_error("assignment", &e))?;
        if assigned.count() == 0 {
            return Ok(Vec::new());
        }
        let consumer = Arc::clone(&self.consumer);
        let resume = resume.to_vec();
        let (group, reset, auto_commit) = (self.group.clone(), self.reset, self.auto_commit);
        tokio::task::spawn_blocking(move || {
            position(
                &consumer,
                &assigned,
                &resume,
                &group,
                reset,
                auto_commit,
                timeout,
            )
        })
        .await
        .map_err(|e| BackendError::Internal(format!("kafka call panicked: {e}")))?
    }

    /// Marks `msgs` as consumed: their offsets + 1 are what the next commit without a body
    /// (or auto-commit) stores. Only records handed to a REST client count: librdkafka's
    /// automatic offset store is off, so a record fetched but never answered (a request
    /// dropped half-way, an instance closed) is never committed.
    fn store_delivered(&self, msgs: &[Message]) {
        let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for m in msgs {
            let e = last
                .entry((m.topic.as_str(), m.partition))
                .or_insert(m.offset);
            *e = (*e).max(m.offset);
        }
        for ((topic, partition), offset) in last {
            // `rd_kafka_offset_store` stores offset + 1.
            if let Err(e) = self.consumer.store_offset(topic, partition, offset) {
                tracing::warn!(
                    group = %self.group,
                    instance = %self.id,
                    topic,
                    partition,
                    error = %e,
                    "could not store a consumed offset"
                );
            }
        }
    }

    /// What a consume error does to the request: fails it (the client must change
    /// something) or is logged and skipped (a broker hiccup).
    fn fatal_poll_error(&self, e: &KafkaError) -> OnPollError {
        match e.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AutoOffsetReset) if self.reset == AutoOffsetReset::None => {
                OnPollError::Fail(self.no_committed_offset())
            }
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed,
            ) => OnPollError::Fail(backend_error("consume", e)),
            _ => OnPollError::Skip,
        }
    }

    /// The error for `Kafka-Auto-Offset-Reset: none` without a commit, naming the first
    /// assigned partition that has none (librdkafka's error does not say which).
    fn no_committed_offset(&self) -> BackendError {
        let missing = self
            .consumer
            .committed(Duration::from_secs(5))
            .ok()
            .and_then(|tpl| {
                tpl.elements()
                    .iter()
                    .find(|e| !matches!(e.offset(), Offset::Offset(_)))
                    .map(|e| (e.topic().to_owned(), e.partition()))
            });
        match missing {
            Some((topic, partition)) => BackendError::NoCommittedOffset {
                group: self.group.clone(),
                topic,
                partition,
            },
            None => BackendError::InvalidRequest(format!(
                "no committed offset in group `{}` for a partition of the subscription and \
                 Kafka-Auto-Offset-Reset is none",
                self.group
            )),
        }
    }

    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Idle (no consume in flight) for longer than its session timeout.
    pub(super) fn expired(&self, now: Instant) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
            && now.saturating_duration_since(
                *self.last_used.lock().unwrap_or_else(|p| p.into_inner()),
            ) > self.idle_timeout
    }

    /// The partitions librdkafka has assigned to this member, per topic.
    pub(super) fn assignment(&self) -> Vec<TopicAssignments> {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        if let Ok(tpl) = self.consumer.assignment() {
            for e in tpl.elements() {
                by_topic
                    .entry(e.topic().to_owned())
                    .or_default()
                    .push(e.partition());
            }
        }
        by_topic
            .into_iter()
            .map(|(topic, mut partitions)| {
                partitions.sort_unstable();
                TopicAssignments { topic, partitions }
            })
            .collect()
    }
}

/// The blocking half of [`Instance::reposition`]: the start of every partition of `assigned`,
/// sought to.
fn position(
    consumer: &InstanceConsumer,
    assigned: &TopicPartitionList,
    resume: &[TopicPartitionOffset],
    group: &str,
    reset: AutoOffsetReset,
    auto_commit: bool,
    timeout: Duration,
) -> Result<Vec<TopicPartitionOffset>, BackendError> {
    let committed = consumer
        .committed_offsets(assigned.clone(), timeout)
        .map_err(|e| backend_error("committed", &e))?;
    let mut starts = Vec::with_capacity(assigned.count());
    let mut seek = TopicPartitionList::with_capacity(assigned.count());
    for e in assigned.elements() {
        let (topic, partition) = (e.topic(), e.partition());
        let resumed = resume
            .iter()
            .find(|r| r.topic == topic && r.partition == partition)
            .map(|r| r.offset);
        let stored = committed
            .find_partition(topic, partition)
            .and_then(|c| match c.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            });
        let start = match resumed.or(stored) {
            Some(o) => o,
            None => {
                let (low, high) = consumer
                    .fetch_watermarks(topic, partition, timeout)
                    .map_err(|e| backend_error("watermarks", &e))?;
                match reset {
                    AutoOffsetReset::Earliest => low,
                    AutoOffsetReset::Latest => high,
                    AutoOffsetReset::None => {
                        return Err(BackendError::NoCommittedOffset {
                            group: group.to_owned(),
                            topic: topic.to_owned(),
                            partition,
                        });
                    }
                }
            }
        };
        seek.add_partition_offset(topic, partition, Offset::Offset(start))
            .map_err(|e| backend_error("seek", &e))?;
        if auto_commit
            && resumed.is_some()
            && start > 0
            && let Err(e) = consumer.store_offset(topic, partition, start - 1)
        {
            tracing::warn!(group, topic, partition, error = %e, "could not store a resumed offset");
        }
        starts.push(TopicPartitionOffset::new(topic, partition, start));
    }
    let sought = consumer
        .seek_partitions(seek, timeout)
        .map_err(|e| backend_error("seek", &e))?;
    if let Some(e) = sought.elements().iter().find_map(|e| e.error().err()) {
        return Err(backend_error("seek", &e));
    }
    Ok(starts)
}

/// Longest a poll waits for the broker's first answer about each partition, whatever its
/// `timeout` (even 0): data that is in Kafka takes a round trip to reach us, and "nothing
/// there" must mean the broker said so, not that we did not ask.
const SETTLE_CAP: Duration = Duration::from_secs(5);

/// The partitions a poll waits to hear about from the broker once: a record, or the end of
/// the partition. librdkafka reports the end of a partition by its number only; with several
/// topics, partition `p` counts as settled when each of its topics delivered a record or as
/// many ends of `p` arrived as topics wait on it.
#[derive(Debug, Default)]
pub(super) struct Settle(BTreeMap<i32, PartitionWait>);

#[derive(Debug, Default)]
struct PartitionWait {
    topics: std::collections::BTreeSet<String>,
    ends: usize,
    delivered: std::collections::BTreeSet<String>,
}

impl PartitionWait {
    fn settled(&self) -> bool {
        self.ends >= self.topics.len() || self.delivered.len() >= self.topics.len()
    }
}

impl Settle {
    pub(super) fn insert(&mut self, topic: &str, partition: i32) {
        self.0
            .entry(partition)
            .or_default()
            .topics
            .insert(topic.to_owned());
    }

    fn record(&mut self, topic: &str, partition: i32) {
        if let Some(w) = self.0.get_mut(&partition)
            && w.topics.contains(topic)
        {
            w.delivered.insert(topic.to_owned());
            if w.settled() {
                self.0.remove(&partition);
            }
        }
    }

    fn end_of(&mut self, partition: i32) {
        if let Some(w) = self.0.get_mut(&partition) {
            w.ends += 1;
            if w.settled() {
                self.0.remove(&partition);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What [`poll_consumer`] does with an error librdkafka reports while polling.
#[derive(Debug)]
pub(super) enum OnPollError {
    /// Log it and go on polling (a transient broker error).
    Skip,
    /// End the poll with what was read so far, possibly nothing (e.g. a fetch offset out of
    /// the partition's range: "nothing there").
    Stop,
    /// Fail the request, unless records were already read (they are answered first).
    Fail(BackendError),
}

/// Reads from `consumer` (already subscribed or assigned; `enable.partition.eof` on).
///
/// Waits until each partition in `unsettled` has delivered a record or reached its end (at
/// most `SETTLE_CAP`), then until `timeout` for the first record if there is none yet, then
/// drains what is already there, up to `limits`. The byte budget is checked after each
/// record, so a response can exceed it by one record (a record handed out by librdkafka counts
/// as consumed; it is never put back). `on_error` decides what each reported error does.
pub(super) async fn poll_consumer<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    timeout: Duration,
    limits: PollLimits,
    mut unsettled: Settle,
    on_error: impl Fn(&KafkaError) -> OnPollError,
) -> Result<Vec<Message>, BackendError> {
    let start = tokio::time::Instant::now();
    let deadline = start + timeout;
    let settle_deadline = start + SETTLE_CAP.max(timeout);
    let mut out = Vec::new();
    let mut bytes = 0usize;
    loop {
        let now = tokio::time::Instant::now();
        let wait = if unsettled.is_empty() {
            if out.is_empty() {
                deadline.saturating_duration_since(now)
            } else {
                Duration::ZERO
            }
        } else {
            settle_deadline.saturating_duration_since(now)
        };
        // `timeout` polls `recv` before looking at the clock, so a zero wait still takes a
        // record that is already queued. `recv` holds no record while pending, so dropping
        // it on timeout loses nothing.
        match tokio::time::timeout(wait, consumer.recv()).await {
            Err(_) => {
                if out.is_empty() && !unsettled.is_empty() && wait > Duration::ZERO {
                    // The settle cap is up: the broker did not answer for every partition.
                    tracing::debug!(?unsettled, "kafka poll: no answer for some partitions");
                }
                break;
            }
            Ok(Ok(m)) => {
                let m = to_message(&m);
                unsettled.record(&m.topic, m.partition);
                bytes += m.size();
                out.push(m);
                if out.len() >= limits.max_records.max(1) || bytes >= limits.max_bytes {
                    break;
                }
            }
            Ok(Err(KafkaError::PartitionEOF(p))) => {
                unsettled.end_of(p);
                if !out.is_empty() && unsettled.is_empty() {
                    break;
                }
            }
            Ok(Err(e)) => match on_error(&e) {
                OnPollError::Fail(err) if out.is_empty() => return Err(err),
                OnPollError::Fail(_) | OnPollError::Stop => break,
                OnPollError::Skip => {
                    tracing::debug!(error = %e, "kafka poll: skipping a transient error");
                    if !out.is_empty() {
                        break;
                    }
                }
            },
        }
    }
    Ok(out)
}

/// Drops `what` (instances, whose consumers close as they drop) on a thread of its own and
/// answers on the receiver when that is done.
///
/// Closing a consumer blocks: it commits, leaves or not, and polls until librdkafka says
/// it is closed, which takes a minute when the broker is gone. Not on an async worker, and
/// not with `spawn_blocking` either: a runtime waits for its blocking tasks when it shuts
/// down, so one consumer that never closes would keep the process from exiting.
pub(super) fn close_in_background<T: Send + 'static>(
    what: T,
) -> tokio::sync::oneshot::Receiver<()> {
    let (done, closed) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || {
            drop(what);
            let _ = done.send(());
        });
    if let Err(e) = spawned {
        // No thread to be had (the process is at its limit). The failed spawn dropped its
        // closure, and so closed `what` right here: late, but never not at all.
        tracing::warn!(error = %e, "kafka: no thread to close consumers on; closed inline");
    }
    closed
}

/// All instances of this gateway, within the instance caps of the backend core.
#[derive(Debug)]
pub(super) struct Instances {
    map: Mutex<InstanceMap>,
    caps: InstanceCaps,
}

/// The instances by `(group, id)`, and how many each group has (kept, so that the caps cost
/// nothing to check).
#[derive(Debug, Default)]
struct InstanceMap {
    all: BTreeMap<(String, String), Arc<Instance>>,
    per_group: HashMap<String, usize>,
}

impl InstanceMap {
    fn remove(&mut self, key: &(String, String)) -> Option<Arc<Instance>> {
        let removed = self.all.remove(key)?;
        if let Some(n) = self.per_group.get_mut(&key.0) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_group.remove(&key.0);
            }
        }
        Some(removed)
    }

    fn check_new(&self, caps: &InstanceCaps, group: &str) -> Result<(), BackendError> {
        let in_group = self.per_group.get(group).copied().unwrap_or(0);
        caps.check_new(group, in_group, self.all.len())
    }
}

/// A backend dropped without `close` (a test, an embedding program) still closes the
/// consumers it holds, but not on the dropping thread, which may be an async worker.
impl Drop for Instances {
    fn drop(&mut self) {
        let left = self.take_all();
        if !left.is_empty() {
            drop(close_in_background(left));
        }
    }
}

/// What [`Instances::insert`] did with an instance.
pub(super) enum Inserted {
    /// It is in the map now.
    New(Arc<Instance>),
    /// One with its key appeared meanwhile: that one, and the instance not inserted.
    Raced(Arc<Instance>, Instance),
    /// A cap was reached meanwhile: the error, and the instance not inserted.
    OverLimit(BackendError, Instance),
}

impl Instances {
    /// No instances yet; they are created within `caps`.
    pub(super) fn new(caps: InstanceCaps) -> Self {
        Self {
            map: Mutex::new(InstanceMap::default()),
            caps,
        }
    }

    pub(super) fn get(&self, group: &str, id: &str) -> Option<Arc<Instance>> {
        self.lock()
            .all
            .get(&(group.to_owned(), id.to_owned()))
            .cloned()
    }

    /// Checks that an instance of `group` may be created now: asked before creating its
    /// consumer (threads, connections), so that a request over a cap costs nothing.
    /// [`Instances::insert`] checks again, under the same lock as the insert.
    ///
    /// # Errors
    /// [`BackendError::OverLimit`] naming the cap.
    pub(super) fn check_room(&self, group: &str) -> Result<(), BackendError> {
        self.lock().check_new(&self.caps, group)
    }

    /// Inserts `instance` unless one with its key appeared meanwhile or a cap is reached.
    pub(super) fn insert(&self, instance: Instance) -> Inserted {
        let mut map = self.lock();
        let key = (instance.group.clone(), instance.id.clone());
        if let Some(existing) = map.all.get(&key) {
            return Inserted::Raced(Arc::clone(existing), instance);
        }
        if let Err(e) = map.check_new(&self.caps, &key.0) {
            return Inserted::OverLimit(e, instance);
        }
        let instance = Arc::new(instance);
        *map.per_group.entry(key.0.clone()).or_default() += 1;
        map.all.insert(key, Arc::clone(&instance));
        Inserted::New(instance)
    }

    pub(super) fn remove(&self, group: &str, id: &str) -> Option<Arc<Instance>> {
        self.lock().remove(&(group.to_owned(), id.to_owned()))
    }

    /// Removes and returns every expired instance.
    pub(super) fn take_expired(&self, now: Instant) -> Vec<Arc<Instance>> {
        let mut map = self.lock();
        let keys: Vec<_> = map
            .all
            .iter()
            .filter(|(_, i)| i.expired(now))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| map.remove(k)).collect()
    }

    /// Removes and returns every instance subscribed to `topic` (it is being deleted).
    pub(super) fn take_subscribed(&self, topic: &str) -> Vec<Arc<Instance>> {
        let mut map = self.lock();
        let keys: Vec<_> = map
            .all
            .iter()
            .filter(|(_, i)| i.subscribed_to(topic))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| map.remove(k)).collect()
    }

    /// Removes and returns all instances (shutdown).
    pub(super) fn take_all(&self) -> Vec<Arc<Instance>> {
        let mut map = self.lock();
        map.per_group.clear();
        std::mem::take(&mut map.all).into_values().collect()
    }

    /// `/consumers`: groups in name order, instances in id order.
    pub(super) fn assignments(&self) -> Vec<GroupAssignments> {
        let map = self.lock();
        let mut groups: Vec<GroupAssignments> = Vec::new();
        for ((group, id), instance) in map.all.iter() {
            let entry = InstanceAssignments {
                name: id.clone(),
                topics: instance.assignment(),
            };
            match groups.last_mut() {
                Some(g) if g.name == *group => g.instances.push(entry),
                _ => groups.push(GroupAssignments {
                    name: group.clone(),
                    instances: vec![entry],
                }),
            }
        }
        groups
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InstanceMap> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::config::ClientConfig;

    /// An instance whose consumer points at a port nothing listens on: librdkafka creates it
    /// without connecting, and every poll waits.
    fn unreachable_instance(session_timeout_ms: u64) -> Instance {
        unreachable_member("g", "i", session_timeout_ms)
    }

    fn unreachable_member(group: &str, id: &str, session_timeout_ms: u64) -> Instance {
        let consumer: InstanceConsumer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("group.id", group)
            .set("log_level", "0")
            .create_with_context(InstanceContext::new(None, None))
            .expect("a consumer is created without connecting");
        let config = ConsumerConfig {
            session_timeout_ms: Some(session_timeout_ms),
            ..ConsumerConfig::default()
        };
        Instance::new(group.into(), id.into(), consumer, &config)
    }

    #[tokio::test]
    async fn the_caps_hold_at_insert_and_a_removal_makes_room() {
        let instances = Instances::new(InstanceCaps {
            per_group: 1,
            per_server: 2,
        });
        assert!(matches!(
            instances.insert(unreachable_member("g", "a", 60_000)),
            Inserted::New(_)
        ));
        let err = instances.check_room("g").unwrap_err();
        assert!(
            err.to_string().contains("--max-instances-per-group"),
            "{err}"
        );
        // Two requests may both pass `check_room`: the insert checks again.
        match instances.insert(unreachable_member("g", "b", 60_000)) {
            Inserted::OverLimit(e, _) => assert!(matches!(e, BackendError::OverLimit(_))),
            _ => panic!("a second instance of g was inserted"),
        }
        assert!(matches!(
            instances.insert(unreachable_member("g", "a", 60_000)),
            Inserted::Raced(..)
        ));
        assert!(matches!(
            instances.insert(unreachable_member("h", "a", 60_000)),
            Inserted::New(_)
        ));
        let err = instances.check_room("k").unwrap_err();
        assert!(
            err.to_string().contains("--max-consumer-instances"),
            "{err}"
        );
        assert!(instances.remove("g", "a").is_some());
        assert!(instances.check_room("g").is_ok() && instances.check_room("k").is_ok());
        drop(close_in_background(instances.take_all()));
    }

    #[test]
    fn the_rebalance_protocol_follows_the_configured_assignor() {
        assert!(!InstanceContext::new(None, None).cooperative);
        assert!(!InstanceContext::new(Some("range,roundrobin"), Some("classic")).cooperative);
        assert!(InstanceContext::new(Some("cooperative-sticky"), None).cooperative);
        assert!(InstanceContext::new(None, Some("consumer")).cooperative);
    }

    #[tokio::test]
    async fn a_cancelled_consume_does_not_keep_its_instance_alive() {
        let instance = unreachable_instance(1_000);
        let limits = PollLimits {
            max_records: 10,
            max_bytes: 1 << 20,
        };
        // The request future is dropped while it waits, as when the client goes away.
        let waited = tokio::time::timeout(
            Duration::from_millis(50),
            instance.poll(Duration::from_secs(30), limits),
        )
        .await;
        assert!(waited.is_err(), "the poll should still be waiting");
        let later = Instant::now() + Duration::from_secs(2);
        assert!(
            instance.expired(later),
            "a dropped consume left the instance counted as in flight"
        );
        assert!(
            !instance.expired(Instant::now()),
            "expired before its idle timeout"
        );
    }
}
