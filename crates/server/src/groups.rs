//! Consumer groups: instances, partition assignment, positions and committed offsets.
//!
//! This is plain state (no I/O, no locking); the backend keeps it behind one mutex and persists
//! the committed offsets when an operation reports a change, and the instances as
//! [`membership`] describes (kept across a restart with a data directory).
//!
//! Semantics (our choices for spec §12 open questions, each tested):
//! - An instance is created by its first consume, which alone reads the `Kafka-*` headers; it is
//!   listed by `/consumers` at once (q. 8: `/commit` and `/committed` never create one; on an
//!   unknown instance they answer 404).
//! - Partitions of each topic are split across the group's live instances subscribed to it with
//!   Kafka's *range* strategy over instance ids in sorted order, recomputed whenever an instance
//!   joins, changes its topics, is deleted, or expires.
//! - An instance expires when no consume arrived for longer than its session timeout
//!   (`Kafka-Session-Timeout-Ms`, default 120 s) (q. 12: the session timeout is the idle timeout).
//! - A later consume that names other topics resubscribes the instance to exactly those (q. 13).
//! - Commits are stored verbatim (spec §4.4). A newly assigned partition starts **at** the
//!   committed offset (Kafka: committed = next offset to read) (q. 9). A client that commits
//!   "next offset" therefore sees nothing twice; one that commits the offset of the last message
//!   it processed sees that one message again (at-least-once) and never loses one.
//! - "Commit last consumed" (no body or `[]`) stores each assigned partition's position (last
//!   delivered offset + 1, or the start position when nothing was delivered yet).
//! - Auto-commit (default on, every 5000 ms) stores the positions of an instance whose positions
//!   moved, on its interval; like a Kafka consumer it also commits when partitions are revoked
//!   and when the instance is deleted or expires (a clean close of the server-side consumer).
//! - `/committed` answers `-1` for a partition without a committed offset (q. 8).
//! - Without a committed offset, `Kafka-Auto-Offset-Reset` picks the start: `earliest` = the
//!   partition's start offset, `latest` = the end at the time of assignment, `none` = a 400
//!   error (q. 11).
//! - A position or committed offset below the start offset (its records were deleted by
//!   retention) is out of range, as in Kafka: the same policy resets it (`earliest` = start
//!   offset, `latest` = end), and `none` is a 400 naming the offset and the earliest one.
//!
//! Cost (issue 20): a request touches its own group only. A consume, commit or delete expires
//! the idle instances of its group and rebalances that group, so its cost grows with the size
//! of the group (at most `max_instances_per_group`), never with the number of groups or
//! instances on the server; the other groups' idle instances are expired by housekeeping
//! ([`Groups::tick`]). Creating an instance beyond `max_instances_per_group` or
//! `max_consumer_instances` is refused with 429 ([`InstanceCaps`]); the count of instances is
//! kept, not recounted.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use upkafka_protocol::{
    AutoOffsetReset, ConsumerConfig, GroupAssignments, InstanceAssignments, Message,
    TopicAssignments, TopicPartition, TopicPartitionOffset,
};

use super::backend::ConsumeParams;
use super::backend::checks::{InstanceCaps, check_consume_topics};
use super::error::BackendError;
use super::log::meta::CommittedEntry;
use super::log::{Log, Partition};

mod membership;

type Tp = (String, i32);

/// The instance `params` names, which `Groups::join` has just created or found: the
/// groups map alone is borrowed, so that the committed offsets can be read beside it.
fn joined<'a>(
    groups: &'a mut BTreeMap<String, BTreeMap<String, Instance>>,
    params: &ConsumeParams,
) -> Result<&'a mut Instance, BackendError> {
    groups
        .get_mut(&params.group)
        .and_then(|g| g.get_mut(&params.instance))
        .ok_or_else(|| BackendError::Internal("instance vanished while planning".into()))
}

#[derive(Debug)]
struct Instance {
    auto_commit: bool,
    interval: Duration,
    reset: AutoOffsetReset,
    session_timeout: Duration,
    topics: Vec<String>,
    assignment: Vec<Tp>,
    positions: HashMap<Tp, i64>,
    last_seen: Instant,
    last_commit: Instant,
    dirty: bool,
    /// Consumes of this instance currently waiting for data; an instance is never expired
    /// while one is in flight (a long poll longer than the session timeout is not idleness).
    in_flight: u32,
}

impl Instance {
    /// No consume in flight and none arrived for longer than the session timeout.
    fn idle_past_timeout(&self, now: Instant) -> bool {
        self.in_flight == 0 && now.saturating_duration_since(self.last_seen) > self.session_timeout
    }

    fn new(config: &ConsumerConfig, topics: Vec<String>, now: Instant) -> Self {
        Self {
            auto_commit: config
                .auto_commit
                .unwrap_or(ConsumerConfig::DEFAULT_AUTO_COMMIT),
            interval: Duration::from_millis(
                config
                    .auto_commit_interval_ms
                    .unwrap_or(ConsumerConfig::DEFAULT_AUTO_COMMIT_INTERVAL_MS),
            ),
            reset: config.auto_offset_reset.unwrap_or_default(),
            session_timeout: Duration::from_millis(
                config
                    .session_timeout_ms
                    .unwrap_or(ConsumerConfig::DEFAULT_SESSION_TIMEOUT_MS),
            ),
            topics,
            assignment: Vec::new(),
            positions: HashMap::new(),
            last_seen: now,
            last_commit: now,
            dirty: false,
            in_flight: 0,
        }
    }
}

/// The partitions and start offsets a consume reads, as planned under the lock.
#[derive(Debug)]
pub(crate) struct ConsumePlan {
    /// Partition and the offset to read from.
    pub reads: Vec<(Arc<Partition>, i64)>,
}

/// Every group's live instances and committed offsets.
#[derive(Debug)]
pub(crate) struct Groups {
    groups: BTreeMap<String, BTreeMap<String, Instance>>,
    committed: HashMap<String, HashMap<Tp, i64>>,
    /// Live instances over all groups (kept, so that the server cap costs nothing to check).
    instances: usize,
    caps: InstanceCaps,
    /// The last group the previous [`Groups::tick`] looked at.
    tick_cursor: Option<String>,
    /// An instance was created, resubscribed or removed since the membership was last
    /// persisted ([`membership`]).
    membership_changed: bool,
}

/// Instances one housekeeping tick looks at, at most (whole groups: one group larger than this
/// is still looked at whole, and a group is at most `max_instances_per_group`).
pub(crate) const TICK_BUDGET: usize = 1024;

/// Stores `inst`'s positions as `group`'s committed offsets: all, or those of `only` (sorted).
fn commit_positions(
    committed: &mut HashMap<String, HashMap<Tp, i64>>,
    group: &str,
    inst: &Instance,
    only: Option<&[Tp]>,
) -> bool {
    let mut changed = false;
    let target = committed.entry(group.to_owned()).or_default();
    for (tp, pos) in &inst.positions {
        if only.is_some_and(|o| o.binary_search(tp).is_err()) {
            continue;
        }
        if target.insert(tp.clone(), *pos) != Some(*pos) {
            changed = true;
        }
    }
    changed
}

impl Groups {
    /// No groups yet; instances are created within `caps`.
    pub fn new(caps: InstanceCaps) -> Self {
        Self {
            groups: BTreeMap::new(),
            committed: HashMap::new(),
            instances: 0,
            caps,
            tick_cursor: None,
            membership_changed: false,
        }
    }

    /// Live instances over all groups.
    #[cfg(test)]
    fn instance_count(&self) -> usize {
        self.instances
    }

    /// Loads committed offsets read from a data directory.
    pub fn load_committed(&mut self, entries: Vec<CommittedEntry>) {
        for e in entries {
            self.committed
                .entry(e.group)
                .or_default()
                .insert((e.topic, e.partition), e.offset);
        }
    }

    /// All committed offsets, for persisting.
    pub fn snapshot_committed(&self) -> Vec<CommittedEntry> {
        let mut out: Vec<CommittedEntry> = self
            .committed
            .iter()
            .flat_map(|(g, m)| {
                m.iter().map(move |((t, p), o)| CommittedEntry {
                    group: g.clone(),
                    topic: t.clone(),
                    partition: *p,
                    offset: *o,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition))
        });
        out
    }

    /// Forgets a deleted topic: every group's committed offsets of it, and the positions and
    /// assignments of the instances subscribed to it (their next consume of it is unknown
    /// topic). Returns whether committed offsets changed.
    pub fn forget_topic(&mut self, topic: &str, log: &Log) -> bool {
        let mut changed = false;
        for offsets in self.committed.values_mut() {
            let before = offsets.len();
            offsets.retain(|(t, _), _| t != topic);
            changed |= offsets.len() != before;
        }
        self.committed.retain(|_, offsets| !offsets.is_empty());
        let subscribed: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, insts)| insts.values().any(|i| i.topics.iter().any(|t| t == topic)))
            .map(|(g, _)| g.clone())
            .collect();
        for group in subscribed {
            if let Some(insts) = self.groups.get_mut(&group) {
                for inst in insts.values_mut() {
                    inst.positions.retain(|(t, _), _| t != topic);
                }
            }
            // The topic is gone from the log, so it gets no partitions; nothing of it is
            // committed on revoke (its positions were just dropped).
            changed |= self.rebalance(&group, log);
        }
        changed
    }

    /// Recomputes the assignment of `group` (range strategy per topic over sorted instance ids).
    /// Returns whether committed offsets changed (auto-commit on revoke).
    fn rebalance(&mut self, group: &str, log: &Log) -> bool {
        let Some(instances) = self.groups.get_mut(group) else {
            return false;
        };
        let mut per_topic: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, inst) in instances.iter() {
            for t in &inst.topics {
                per_topic.entry(t.clone()).or_default().push(id.clone());
            }
        }
        let mut new_assign: HashMap<String, Vec<Tp>> = HashMap::new();
        for (topic, members) in per_topic {
            let n = log.topic(&topic).map_or(0, |t| t.partition_count());
            let m = members.len() as i32;
            let (per, extra) = (n / m, n % m);
            let mut next = 0;
            for (i, member) in members.iter().enumerate() {
                let count = per + i32::from((i as i32) < extra);
                let list = new_assign.entry(member.clone()).or_default();
                for _ in 0..count {
                    list.push((topic.clone(), next));
                    next += 1;
                }
            }
        }
        let mut changed = false;
        for (id, inst) in instances.iter_mut() {
            let mut new = new_assign.remove(id).unwrap_or_default();
            new.sort();
            // Sorted lookups: an instance may hold thousands of partitions, and a rebalance is
            // on the request path of the consume that joins.
            let mut revoked: Vec<Tp> = inst
                .assignment
                .iter()
                .filter(|tp| new.binary_search(tp).is_err())
                .cloned()
                .collect();
            revoked.sort();
            if inst.auto_commit && !revoked.is_empty() {
                changed |= commit_positions(&mut self.committed, group, inst, Some(&revoked));
            }
            inst.positions.retain(|tp, _| new.binary_search(tp).is_ok());
            inst.assignment = new;
        }
        changed
    }

    /// Removes the instances of every group idle for longer than their session timeout and
    /// rebalances those groups: housekeeping's work, and `/consumers`' (whose answer lists
    /// every instance anyway). Returns whether committed offsets changed.
    pub fn expire(&mut self, now: Instant, log: &Log) -> bool {
        let mut touched: Vec<String> = Vec::new();
        for (group, instances) in &self.groups {
            if instances.values().any(|i| i.idle_past_timeout(now)) {
                touched.push(group.clone());
            }
        }
        let mut changed = false;
        for g in touched {
            changed |= self.expire_group(&g, now, log);
        }
        changed
    }

    /// Removes the instances of `group` idle for longer than their session timeout and
    /// rebalances it if any went; what a request of that group does first (its cost is the
    /// group's size). Returns whether committed offsets changed.
    fn expire_group(&mut self, group: &str, now: Instant, log: &Log) -> bool {
        let Some(instances) = self.groups.get_mut(group) else {
            return false;
        };
        let expired: Vec<String> = instances
            .iter()
            .filter(|(_, i)| i.idle_past_timeout(now))
            .map(|(id, _)| id.clone())
            .collect();
        if expired.is_empty() {
            return false;
        }
        let mut changed = false;
        for id in expired {
            if let Some(inst) = instances.remove(&id) {
                self.instances = self.instances.saturating_sub(1);
                self.membership_changed = true;
                tracing::info!(group, instance = id, "consumer instance expired");
                if inst.auto_commit {
                    changed |= commit_positions(&mut self.committed, group, &inst, None);
                }
            }
        }
        changed |= self.rebalance(group, log);
        if self.groups.get(group).is_some_and(BTreeMap::is_empty) {
            self.groups.remove(group);
        }
        changed
    }

    /// Periodic work: expiry and due auto-commits. Returns whether committed offsets changed.
    ///
    /// One tick looks at whole groups, from where the last one stopped, until it has seen
    /// [`TICK_BUDGET`] instances (or all of them): the lock it runs under is the one every
    /// consume takes, so a server full of instances must not hold it for a scan of all of
    /// them. With fewer instances than the budget every tick sees all; with more, a pass over
    /// all takes `instances / TICK_BUDGET` ticks, by which expiry and auto-commit may come late.
    pub fn tick(&mut self, now: Instant, log: &Log) -> bool {
        let mut chosen: Vec<String> = Vec::new();
        let mut seen = 0;
        {
            let (tail, head) = match self.tick_cursor.as_deref() {
                Some(c) => (
                    self.groups
                        .range::<str, _>((Bound::Excluded(c), Bound::Unbounded)),
                    self.groups
                        .range::<str, _>((Bound::Unbounded, Bound::Included(c))),
                ),
                None => (
                    self.groups
                        .range::<str, _>((Bound::Unbounded, Bound::Unbounded)),
                    self.groups
                        .range::<str, _>((Bound::Unbounded, Bound::Excluded(""))),
                ),
            };
            for (name, instances) in tail.chain(head) {
                if seen >= TICK_BUDGET {
                    break;
                }
                seen += instances.len();
                chosen.push(name.clone());
            }
        }
        self.tick_cursor = chosen.last().cloned();
        let mut changed = false;
        for group in &chosen {
            changed |= self.expire_group(group, now, log);
            let Some(instances) = self.groups.get_mut(group) else {
                continue;
            };
            for inst in instances.values_mut() {
                if inst.auto_commit
                    && inst.dirty
                    && now.saturating_duration_since(inst.last_commit) >= inst.interval
                {
                    changed |= commit_positions(&mut self.committed, group, inst, None);
                    inst.dirty = false;
                    inst.last_commit = now;
                }
            }
        }
        changed
    }

    /// Creates or refreshes the instance and (re)subscribes it, rebalancing when that changed
    /// the group. Returns whether committed offsets changed (auto-commit on revoke).
    fn join(
        &mut self,
        log: &Log,
        params: &ConsumeParams,
        now: Instant,
    ) -> Result<bool, BackendError> {
        let mut changed = self.expire_group(&params.group, now, log);
        check_consume_topics(&params.topics)?;
        for t in &params.topics {
            if log.topic(t).is_none() {
                return Err(BackendError::UnknownTopic(t.clone()));
            }
        }
        let total = self.instances;
        let instances = self.groups.entry(params.group.clone()).or_default();
        let mut need_rebalance = false;
        match instances.get_mut(&params.instance) {
            None => {
                let config = params.settings.for_new_instance().and_then(|config| {
                    self.caps
                        .check_new(&params.group, instances.len(), total)
                        .map(|()| config)
                });
                let config = match config {
                    Ok(config) => config,
                    Err(e) => {
                        if instances.is_empty() {
                            self.groups.remove(&params.group);
                        }
                        return Err(e);
                    }
                };
                instances.insert(
                    params.instance.clone(),
                    Instance::new(config, params.topics.clone(), now),
                );
                self.instances += 1;
                self.membership_changed = true;
                need_rebalance = true;
            }
            Some(inst) => {
                let mut old = inst.topics.clone();
                let mut new = params.topics.clone();
                old.sort();
                new.sort();
                if old != new {
                    inst.topics = params.topics.clone();
                    self.membership_changed = true;
                    need_rebalance = true;
                }
            }
        }
        if need_rebalance {
            changed |= self.rebalance(&params.group, log);
        }
        Ok(changed)
    }

    /// Creates or refreshes the instance, (re)subscribes it, and plans which partitions to
    /// read from which offsets. Returns the plan and whether committed offsets changed.
    pub fn prepare_consume(
        &mut self,
        log: &Log,
        params: &ConsumeParams,
        now: Instant,
    ) -> Result<(ConsumePlan, bool), BackendError> {
        let changed = self.join(log, params, now)?;
        let committed = self.committed.get(&params.group);
        let inst = joined(&mut self.groups, params)?;
        inst.last_seen = now;
        inst.in_flight += 1;
        match plan_reads(log, &params.group, committed, inst) {
            Ok(reads) => Ok((ConsumePlan { reads }, changed)),
            Err(e) => {
                inst.in_flight = inst.in_flight.saturating_sub(1);
                Err(e)
            }
        }
    }

    /// Prepares an event stream of the instance (see `Backend::open_stream`): joins like a
    /// consume, then positions every assigned partition at its `resume` offset if named, else
    /// at the committed offset (else the reset policy). Returns the start positions and
    /// whether committed offsets changed.
    pub fn open_stream(
        &mut self,
        log: &Log,
        params: &ConsumeParams,
        resume: &[TopicPartitionOffset],
        now: Instant,
    ) -> Result<(Vec<TopicPartitionOffset>, bool), BackendError> {
        let changed = self.join(log, params, now)?;
        let committed = self.committed.get(&params.group);
        let inst = joined(&mut self.groups, params)?;
        inst.last_seen = now;
        // What an earlier stream of this instance read ahead may never have reached the
        // client: forget every position, so that it is planned again from `resume` or the
        // commits. A consume of the instance still in flight sees its plan invalidated.
        inst.positions.clear();
        for r in resume {
            let tp = (r.topic.clone(), r.partition);
            if inst.assignment.contains(&tp) && r.offset >= 0 {
                inst.positions.insert(tp, r.offset);
                // Resuming after an event acknowledges it: auto-commit may store this.
                inst.dirty = true;
            }
        }
        let reads = plan_reads(log, &params.group, committed, inst)?;
        let starts = reads
            .iter()
            .map(|(p, o)| TopicPartitionOffset::new(p.topic(), p.id(), *o))
            .collect();
        Ok((starts, changed))
    }

    /// Records what a consume delivered: drops messages of partitions that were revoked or
    /// consumed concurrently meanwhile, and advances positions past the rest.
    pub fn finish_consume(
        &mut self,
        group: &str,
        instance: &str,
        plan: &ConsumePlan,
        messages: &mut Vec<Message>,
        now: Instant,
    ) {
        let Some(inst) = self.groups.get_mut(group).and_then(|g| g.get_mut(instance)) else {
            messages.clear();
            return;
        };
        inst.last_seen = now;
        // (topic, partition, start, still valid, next position)
        let mut state: Vec<(&str, i32, i64, bool, i64)> = plan
            .reads
            .iter()
            .map(|(p, start)| {
                let valid = inst
                    .positions
                    .get(&(p.topic().to_owned(), p.id()))
                    .is_some_and(|pos| pos == start);
                (p.topic(), p.id(), *start, valid, *start)
            })
            .collect();
        messages.retain(|m| {
            match state
                .iter_mut()
                .find(|s| s.0 == m.topic && s.1 == m.partition)
            {
                Some(s) if s.3 => {
                    s.4 = s.4.max(m.offset + 1);
                    true
                }
                _ => false,
            }
        });
        for (topic, partition, start, valid, next) in state {
            if valid && next != start {
                inst.positions.insert((topic.to_owned(), partition), next);
                inst.dirty = true;
            }
        }
    }

    /// Marks the end of a consume started by [`Groups::prepare_consume`] (called from a drop
    /// guard, so also when the client went away mid-poll).
    pub fn end_consume(&mut self, group: &str, instance: &str, now: Instant) {
        if let Some(inst) = self.groups.get_mut(group).and_then(|g| g.get_mut(instance)) {
            inst.in_flight = inst.in_flight.saturating_sub(1);
            inst.last_seen = now;
        }
    }

    fn instance(&self, group: &str, instance: &str) -> Result<&Instance, BackendError> {
        self.groups
            .get(group)
            .and_then(|g| g.get(instance))
            .ok_or_else(|| BackendError::UnknownConsumer {
                group: group.to_owned(),
                instance: instance.to_owned(),
            })
    }

    /// Commits explicit offsets verbatim, or (with `None` / empty) the instance's positions.
    /// Returns whether committed offsets changed.
    pub fn commit(
        &mut self,
        log: &Log,
        group: &str,
        instance: &str,
        offsets: Option<Vec<TopicPartitionOffset>>,
        now: Instant,
    ) -> Result<bool, BackendError> {
        let mut changed = self.expire_group(group, now, log);
        self.instance(group, instance)?;
        match offsets {
            Some(list) if !list.is_empty() => {
                for o in &list {
                    check_partition(log, &o.topic, o.partition)?;
                    if o.offset < 0 {
                        return Err(BackendError::InvalidRequest(format!(
                            "cannot commit negative offset {} for {}/{}",
                            o.offset, o.topic, o.partition
                        )));
                    }
                }
                let target = self.committed.entry(group.to_owned()).or_default();
                for o in list {
                    target.insert((o.topic, o.partition), o.offset);
                }
                changed = true;
            }
            _ => {
                if let Some(inst) = self.groups.get_mut(group).and_then(|g| g.get_mut(instance)) {
                    changed |= commit_positions(&mut self.committed, group, inst, None);
                    inst.dirty = false;
                    inst.last_commit = now;
                }
            }
        }
        Ok(changed)
    }

    /// Committed offsets (`-1` where none) for `partitions`, or for the instance's assignment
    /// when `partitions` is empty.
    pub fn committed(
        &mut self,
        log: &Log,
        group: &str,
        instance: &str,
        partitions: Vec<TopicPartition>,
        now: Instant,
    ) -> Result<(Vec<TopicPartitionOffset>, bool), BackendError> {
        let changed = self.expire_group(group, now, log);
        let inst = self.instance(group, instance)?;
        let partitions: Vec<TopicPartition> = if partitions.is_empty() {
            inst.assignment
                .iter()
                .map(|(t, p)| TopicPartition::new(t.clone(), *p))
                .collect()
        } else {
            partitions
        };
        let committed = self.committed.get(group);
        let mut out = Vec::with_capacity(partitions.len());
        for tp in partitions {
            check_partition(log, &tp.topic, tp.partition)?;
            let offset = committed
                .and_then(|c| c.get(&(tp.topic.clone(), tp.partition)))
                .copied()
                .unwrap_or(-1);
            out.push(TopicPartitionOffset::new(tp.topic, tp.partition, offset));
        }
        Ok((out, changed))
    }

    /// Removes an instance (auto-committing its positions if enabled) and rebalances.
    pub fn delete(
        &mut self,
        log: &Log,
        group: &str,
        instance: &str,
        now: Instant,
    ) -> Result<bool, BackendError> {
        let mut changed = self.expire_group(group, now, log);
        let inst = self
            .groups
            .get_mut(group)
            .and_then(|g| g.remove(instance))
            .ok_or_else(|| BackendError::UnknownConsumer {
                group: group.to_owned(),
                instance: instance.to_owned(),
            })?;
        self.instances = self.instances.saturating_sub(1);
        self.membership_changed = true;
        if inst.auto_commit {
            changed |= commit_positions(&mut self.committed, group, &inst, None);
        }
        changed |= self.rebalance(group, log);
        if self.groups.get(group).is_some_and(BTreeMap::is_empty) {
            self.groups.remove(group);
        }
        Ok(changed)
    }

    /// The `/consumers` view: groups and instances sorted by name, topics sorted, partitions
    /// ascending. An instance without partitions yet has an empty `topics` list.
    pub fn list(&self) -> Vec<GroupAssignments> {
        self.groups
            .iter()
            .map(|(g, instances)| GroupAssignments {
                name: g.clone(),
                instances: instances
                    .iter()
                    .map(|(id, inst)| {
                        let mut topics: Vec<TopicAssignments> = Vec::new();
                        for (t, p) in &inst.assignment {
                            match topics.iter_mut().find(|ta| &ta.topic == t) {
                                Some(ta) => ta.partitions.push(*p),
                                None => topics.push(TopicAssignments {
                                    topic: t.clone(),
                                    partitions: vec![*p],
                                }),
                            }
                        }
                        InstanceAssignments {
                            name: id.clone(),
                            topics,
                        }
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The partitions `inst` reads and the offset of each: its position, or for a partition without
/// one the group's committed offset, else the reset policy (which is then its position).
fn plan_reads(
    log: &Log,
    group: &str,
    committed: Option<&HashMap<Tp, i64>>,
    inst: &mut Instance,
) -> Result<Vec<(Arc<Partition>, i64)>, BackendError> {
    let mut reads = Vec::with_capacity(inst.assignment.len());
    for tp in &inst.assignment {
        let part = log
            .topic(&tp.0)
            .and_then(|t| t.partition(tp.1).cloned())
            .ok_or_else(|| BackendError::UnknownTopic(tp.0.clone()))?;
        let known = inst
            .positions
            .get(tp)
            .copied()
            .or_else(|| committed.and_then(|c| c.get(tp)).copied());
        let start = part.start_offset();
        let pos = match known {
            Some(p) if p >= start => {
                if !inst.positions.contains_key(tp) {
                    inst.positions.insert(tp.clone(), p);
                    inst.dirty = true;
                }
                p
            }
            _ => {
                let p = match inst.reset {
                    AutoOffsetReset::Earliest => start,
                    AutoOffsetReset::Latest => part.end_offset(),
                    AutoOffsetReset::None => {
                        return Err(match known {
                            Some(offset) => BackendError::OffsetOutOfRange {
                                group: group.to_owned(),
                                topic: tp.0.clone(),
                                partition: tp.1,
                                offset,
                                earliest: start,
                            },
                            None => BackendError::NoCommittedOffset {
                                group: group.to_owned(),
                                topic: tp.0.clone(),
                                partition: tp.1,
                            },
                        });
                    }
                };
                inst.positions.insert(tp.clone(), p);
                inst.dirty = true;
                p
            }
        };
        reads.push((part, pos));
    }
    Ok(reads)
}

/// Checks that `topic` exists and has `partition`.
pub(crate) fn check_partition(log: &Log, topic: &str, partition: i32) -> Result<(), BackendError> {
    let t = log
        .topic(topic)
        .ok_or_else(|| BackendError::UnknownTopic(topic.to_owned()))?;
    if t.partition(partition).is_none() {
        return Err(BackendError::UnknownPartition {
            topic: topic.to_owned(),
            partition,
            count: t.partition_count(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ConsumerSettings;
    use crate::log::LogOptions;

    fn log() -> Log {
        let log = Log::open(&LogOptions::default(), &crate::config::Limits::default()).unwrap();
        log.create_topic("t", 2).unwrap();
        log
    }

    fn params(group: &str, instance: &str, session_timeout_ms: u64) -> ConsumeParams {
        ConsumeParams {
            group: group.into(),
            instance: instance.into(),
            topics: vec!["t".into()],
            timeout: Duration::ZERO,
            settings: ConsumerSettings::Valid(ConsumerConfig {
                session_timeout_ms: Some(session_timeout_ms),
                ..ConsumerConfig::default()
            }),
        }
    }

    /// A committed offset whose records retention deleted is out of range: each
    /// `Kafka-Auto-Offset-Reset` resets it as Kafka does, and `none` names it.
    #[tokio::test]
    async fn a_committed_offset_deleted_by_retention_follows_the_reset_policy() {
        use crate::log::{StoredRecord, TopicSettings};
        let log = Log::open(
            &LogOptions {
                cleaner_interval: Duration::from_millis(20),
                ..LogOptions::default()
            },
            &crate::config::Limits::default(),
        )
        .unwrap();
        let settings = TopicSettings {
            retention_bytes: Some(1),
            segment_bytes: 64,
            ..TopicSettings::unlimited()
        };
        log.add_topic("t", 1, settings).unwrap();
        let part = Arc::clone(log.topic("t").unwrap().partition(0).unwrap());
        for i in 0..10 {
            let r = StoredRecord {
                timestamp: i,
                key: None,
                value: Some("x".repeat(60)),
                headers: vec![],
            };
            log.append(vec![(Arc::clone(&part), vec![r])])
                .await
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while part.start_offset() < 9 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(part.start_offset(), 9, "retention deleted offsets 0..9");
        let consume = |group: &str, reset: AutoOffsetReset| {
            let mut groups = Groups::new(InstanceCaps::of(&crate::config::Limits::default()));
            groups.load_committed(vec![CommittedEntry {
                group: group.into(),
                topic: "t".into(),
                partition: 0,
                offset: 2,
            }]);
            let mut p = params(group, "i", 60_000);
            p.settings = ConsumerSettings::Valid(ConsumerConfig {
                auto_offset_reset: Some(reset),
                ..ConsumerConfig::default()
            });
            groups
                .prepare_consume(&log, &p, Instant::now())
                .map(|(plan, _)| plan.reads[0].1)
        };
        assert_eq!(consume("e", AutoOffsetReset::Earliest).unwrap(), 9);
        assert_eq!(consume("l", AutoOffsetReset::Latest).unwrap(), 10);
        let err = consume("n", AutoOffsetReset::None).unwrap_err();
        assert!(
            matches!(err, BackendError::OffsetOutOfRange { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("offset 2 of t/0")
                && text.contains("earliest offset is 9")
                && text.contains("none"),
            "{text}"
        );
    }

    #[test]
    fn instances_are_capped_per_group_and_per_server_until_one_goes() {
        let log = log();
        let mut groups = Groups::new(InstanceCaps {
            per_group: 2,
            per_server: 3,
        });
        let now = Instant::now();
        let join =
            |g: &mut Groups, group: &str, id: &str| g.join(&log, &params(group, id, 60_000), now);
        join(&mut groups, "g", "a").unwrap();
        join(&mut groups, "g", "b").unwrap();
        let err = join(&mut groups, "g", "c").unwrap_err();
        assert!(matches!(err, BackendError::OverLimit(_)), "{err:?}");
        assert!(
            err.to_string().contains("--max-instances-per-group"),
            "{err}"
        );
        // Existing instances keep consuming; the refused one was not half-created.
        join(&mut groups, "g", "a").unwrap();
        join(&mut groups, "h", "a").unwrap();
        let err = join(&mut groups, "i", "a").unwrap_err();
        assert!(
            err.to_string().contains("--max-consumer-instances"),
            "{err}"
        );
        assert!(
            !groups.list().iter().any(|g| g.name == "i"),
            "a refused instance leaves no empty group behind"
        );
        assert_eq!(groups.instance_count(), 3);
        groups.delete(&log, "g", "a", now).unwrap();
        join(&mut groups, "i", "a").unwrap();
        assert_eq!(groups.instance_count(), 3);
    }

    #[test]
    fn a_consume_expires_its_own_group_only_and_housekeeping_the_rest() {
        let log = log();
        let mut groups = Groups::new(InstanceCaps {
            per_group: 10,
            per_server: 10,
        });
        let start = Instant::now();
        groups.join(&log, &params("idle", "a", 10), start).unwrap();
        groups.join(&log, &params("busy", "a", 10), start).unwrap();
        let later = start + Duration::from_secs(1);
        groups
            .join(&log, &params("busy", "b", 60_000), later)
            .unwrap();
        let names = |g: &Groups| -> Vec<(String, usize)> {
            g.list()
                .into_iter()
                .map(|g| (g.name, g.instances.len()))
                .collect()
        };
        assert_eq!(
            names(&groups),
            [("busy".to_owned(), 1), ("idle".to_owned(), 1)],
            "the consume expired its own group's idle instance, and nothing else"
        );
        groups.tick(later, &log);
        assert_eq!(names(&groups), [("busy".to_owned(), 1)]);
        assert_eq!(groups.instance_count(), 1);
    }

    #[test]
    fn housekeeping_looks_at_a_bounded_share_per_tick_and_at_everyone_in_turn() {
        let log = log();
        let mut groups = Groups::new(InstanceCaps {
            per_group: TICK_BUDGET,
            per_server: 4 * TICK_BUDGET,
        });
        let start = Instant::now();
        for g in 0..3 {
            for i in 0..TICK_BUDGET {
                let p = params(&format!("g{g}"), &format!("i{i}"), 10);
                groups.join(&log, &p, start).unwrap();
            }
        }
        let later = start + Duration::from_secs(1);
        let mut left = Vec::new();
        for _ in 0..3 {
            groups.tick(later, &log);
            left.push(groups.instance_count());
        }
        assert_eq!(
            left,
            [2 * TICK_BUDGET, TICK_BUDGET, 0],
            "one group of {TICK_BUDGET} per tick, every group within three ticks"
        );
    }
}
