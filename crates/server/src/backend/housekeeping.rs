//! A backend's periodic background work (expiring idle consumer instances, auto-commit),
//! written once: a task that holds only a weak reference to the backend's state, so it ends
//! with the backend, and that stops on close or drop.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Housekeeping never runs more often than this, whatever the configuration asks.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The running housekeeping task of a backend.
#[derive(Debug)]
pub(crate) struct Housekeeping(Mutex<Option<JoinHandle<()>>>);

impl Housekeeping {
    /// Runs `tick` on `state` every `interval` (at least [`MIN_INTERVAL`]; a slow tick delays
    /// the next rather than bunching them) until `state` is dropped or [`Housekeeping::stop`]
    /// is called. Must be called within a Tokio runtime.
    pub(crate) fn spawn<T, F, Fut>(state: &Arc<T>, interval: Duration, mut tick: F) -> Self
    where
        T: Send + Sync + 'static,
        F: FnMut(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let weak: Weak<T> = Arc::downgrade(state);
        let interval = interval.max(MIN_INTERVAL);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(state) = weak.upgrade() else { break };
                tick(state).await;
            }
        });
        Self(Mutex::new(Some(task)))
    }

    /// Stops the task, if it still runs (a tick in progress is cancelled at its next await).
    pub(crate) fn stop(&self) {
        if let Some(task) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

impl Drop for Housekeeping {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_until_stopped() {
        let count = Arc::new(AtomicUsize::new(0));
        let hk = Housekeeping::spawn(&count, Duration::from_millis(10), |c| async move {
            c.fetch_add(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_millis(35)).await;
        let ticked = count.load(Ordering::SeqCst);
        assert!((3..=5).contains(&ticked), "{ticked} ticks in 35 ms");
        hk.stop();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(count.load(Ordering::SeqCst), ticked, "ticked after stop");
    }

    #[tokio::test(start_paused = true)]
    async fn ends_with_its_state() {
        let state = Arc::new(());
        let hk = Housekeeping::spawn(&state, Duration::from_millis(10), |_| async {});
        drop(state);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let task = hk.0.lock().unwrap().take().unwrap();
        assert!(task.is_finished(), "the task outlived its state");
    }
}
