//! Consumer instances across a restart (issue 16): what is kept, and how it comes back.
//!
//! With a data directory the server keeps, in `consumers.json`, every live instance's group,
//! id, subscription and the settings its first consume set (auto-commit and its interval,
//! offset reset, session timeout). Not its positions: a restored instance resumes at its
//! group's committed offsets, as a Kafka consumer does after a coordinator failover, and
//! without one its reset policy decides.
//!
//! Our choices, each tested:
//! - **When it is written.** The membership is written by housekeeping when it changed (an
//!   instance created, resubscribed, deleted or expired), so at most one housekeeping interval
//!   (100 ms by default) after the change, and always on a graceful shutdown. A join storm
//!   costs one write per interval, not one per join. An instance created less than an interval
//!   before a `kill -9` may not come back; its next consume creates it again, as before.
//! - **A graceful shutdown commits** the positions of auto-commit instances first (Kafka's
//!   consumer commits on close too), so after a graceful restart they resume where they were.
//!   After `kill -9` they resume at the last auto-commit, at most one auto-commit interval
//!   behind: some messages again, none lost. Manual-commit instances resume at what they
//!   committed, either way.
//! - **Expiry still applies, from the restart.** A restored instance's session starts when the
//!   server is back (Kafka's coordinator does the same when it loads a group): the downtime is
//!   not its idleness, and if no consume arrives within its session timeout it expires.
//! - **What no longer fits is dropped, with a warning:** topics that no longer exist leave its
//!   subscription (an instance left with none is not restored), and instances beyond the
//!   server's instance caps are not restored.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use upkafka_protocol::ConsumerConfig;

use super::{Groups, Instance};
use crate::log::Log;
use crate::log::meta::StoredInstance;

impl Groups {
    /// The instances to persist, if the membership changed since the last call or `always`
    /// (it then counts as persisted; [`Groups::membership_unsaved`] undoes that when the
    /// write fails).
    pub fn take_membership(&mut self, always: bool) -> Option<Vec<StoredInstance>> {
        let changed = std::mem::take(&mut self.membership_changed);
        (changed || always).then(|| self.membership())
    }

    /// Marks the membership as not persisted, so that the next housekeeping tick tries again.
    pub fn membership_unsaved(&mut self) {
        self.membership_changed = true;
    }

    /// Every live instance, sorted by group and id.
    pub fn membership(&self) -> Vec<StoredInstance> {
        self.groups
            .iter()
            .flat_map(|(group, instances)| {
                instances.iter().map(move |(id, inst)| StoredInstance {
                    group: group.clone(),
                    instance: id.clone(),
                    topics: inst.topics.clone(),
                    auto_commit: inst.auto_commit,
                    auto_commit_interval_ms: millis(inst.interval),
                    auto_offset_reset: inst.reset,
                    session_timeout_ms: millis(inst.session_timeout),
                })
            })
            .collect()
    }

    /// Brings back instances read from a data directory, their sessions starting at `now`,
    /// and assigns their groups' partitions. Returns how many came back.
    pub fn restore_membership(
        &mut self,
        stored: Vec<StoredInstance>,
        log: &Log,
        now: Instant,
    ) -> usize {
        let mut restored = 0;
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for s in stored {
            let (known, gone): (Vec<String>, Vec<String>) =
                s.topics.into_iter().partition(|t| log.topic(t).is_some());
            if !gone.is_empty() {
                tracing::warn!(
                    group = s.group,
                    instance = s.instance,
                    topics = ?gone,
                    "restored consumer instance: topics no longer exist, unsubscribed"
                );
            }
            if known.is_empty() {
                continue;
            }
            let group_len = self.groups.get(&s.group).map_or(0, |g| g.len());
            if let Err(e) = self.caps.check_new(&s.group, group_len, self.instances) {
                tracing::warn!(
                    group = s.group,
                    instance = s.instance,
                    error = %e,
                    "consumer instance not restored"
                );
                continue;
            }
            let config = ConsumerConfig {
                auto_commit: Some(s.auto_commit),
                auto_commit_interval_ms: Some(s.auto_commit_interval_ms),
                auto_offset_reset: Some(s.auto_offset_reset),
                session_timeout_ms: Some(s.session_timeout_ms),
            };
            let instances = self.groups.entry(s.group.clone()).or_default();
            if instances
                .insert(s.instance, Instance::new(&config, known, now))
                .is_none()
            {
                self.instances += 1;
                restored += 1;
            }
            touched.insert(s.group);
        }
        for group in &touched {
            // Restored instances hold no positions yet, so nothing is committed on revoke.
            self.rebalance(group, log);
        }
        restored
    }

    /// What a graceful shutdown does first: every auto-commit instance commits its positions,
    /// as a Kafka consumer does on close. Returns whether committed offsets changed.
    pub fn commit_on_shutdown(&mut self) -> bool {
        let mut changed = false;
        for (group, instances) in &mut self.groups {
            for inst in instances.values_mut() {
                if inst.auto_commit && inst.dirty {
                    changed |= super::commit_positions(&mut self.committed, group, inst, None);
                    inst.dirty = false;
                }
            }
        }
        changed
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use upkafka_protocol::AutoOffsetReset;

    use super::*;
    use crate::backend::checks::InstanceCaps;
    use crate::log::LogOptions;

    fn stored(group: &str, instance: &str, topics: &[&str]) -> StoredInstance {
        StoredInstance {
            group: group.into(),
            instance: instance.into(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            auto_commit: false,
            auto_commit_interval_ms: 700,
            auto_offset_reset: AutoOffsetReset::Earliest,
            session_timeout_ms: 9_000,
        }
    }

    #[test]
    fn what_is_persisted_comes_back_and_what_no_longer_fits_is_dropped() {
        let log = Log::open(&LogOptions::default(), &crate::config::Limits::default()).unwrap();
        log.create_topic("t", 2).unwrap();
        let mut groups = Groups::new(InstanceCaps {
            per_group: 2,
            per_server: 3,
        });
        let saved = vec![
            stored("g", "a", &["t", "gone"]),
            stored("g", "b", &["t"]),
            stored("g", "c", &["t"]),
            stored("h", "only-gone", &["gone"]),
            stored("h", "x", &["t"]),
            stored("k", "y", &["t"]),
        ];
        let restored = groups.restore_membership(saved, &log, Instant::now());
        // "c" is over the per-group cap, "only-gone" has no topic left, "y" is over the
        // server cap.
        assert_eq!(restored, 3);
        let members = groups.membership();
        let ids: Vec<(&str, &str)> = members
            .iter()
            .map(|m| (m.group.as_str(), m.instance.as_str()))
            .collect();
        assert_eq!(ids, [("g", "a"), ("g", "b"), ("h", "x")]);
        assert_eq!(
            members[0].topics,
            ["t"],
            "the deleted topic left the subscription"
        );
        assert_eq!(
            members[1],
            stored("g", "b", &["t"]),
            "settings kept as stored"
        );
        // Their groups' partitions are assigned at once, for `/consumers`.
        let list = groups.list();
        let parts: Vec<Vec<i32>> = list[0]
            .instances
            .iter()
            .map(|i| i.topics[0].partitions.clone())
            .collect();
        assert_eq!(parts, [vec![0], vec![1]]);
        // Restoring is not a change to write back; a later join is.
        assert!(groups.take_membership(false).is_none());
    }

    #[test]
    fn a_failed_write_is_tried_again() {
        let mut groups = Groups::new(InstanceCaps {
            per_group: 2,
            per_server: 3,
        });
        groups.membership_changed = true;
        assert_eq!(groups.take_membership(false), Some(Vec::new()));
        assert!(groups.take_membership(false).is_none(), "taken once");
        groups.membership_unsaved();
        assert!(
            groups.take_membership(false).is_some(),
            "offered again after a failure"
        );
    }
}
