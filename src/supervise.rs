//! One way to keep a long-running task alive, used by every IMAP folder, the follow-up sweep
//! and the CRM dispatcher: each run of the task is its own tokio task, so a panic ends only
//! that run; an error or a panic is handed to the caller's `on_failure` (which records or logs
//! it and may name the delay), then the supervisor waits (capped exponential backoff with
//! ±25 % jitter, started over after a run that stayed healthy) and runs the task again. A run
//! that returns `Ok(())` (it saw the stop, or its work is done) ends the supervision, and so
//! does the stop signal during a wait. A leaf: it imports nothing of the crate.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::error;

/// The daemon's stop signal: `true` once shutdown began.
pub type Stop = watch::Receiver<bool>;

/// Has shutdown begun?
pub fn stopping(stop: &Stop) -> bool {
    *stop.borrow()
}

/// Resolves once shutdown begins (or the sender is gone).
pub async fn stopped(stop: &mut Stop) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Delays between runs after failures: doubling from `first` up to `cap`, with ±25 % jitter;
/// a run that lasted `healthy_after` before failing starts the count over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
    pub healthy_after: Duration,
}

impl Backoff {
    /// The delay after `failures` failures in a row (1: the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = self
            .first
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        exp.min(self.cap).mul_f64(0.75 + fastrand::f64() * 0.5)
    }
}

/// How one run of a supervised task ended badly.
#[derive(Debug)]
pub enum Failure<E> {
    Error(E),
    /// The run panicked (the panic's message, when it had one).
    Panic(String),
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Panic(p) => write!(f, "the task panicked: {p}"),
        }
    }
}

/// Keep the task `name` running until a run returns `Ok(())` or `stop` turns true. Each run is
/// `run()` spawned on its own; after a failure `on_failure(failure, failures_in_a_row)` is
/// awaited (record it, log it) and returns the delay to wait, or `None` for `backoff`'s.
/// Panics are always logged here as errors (they are bugs).
pub async fn supervise<E, R, Fut, H, HFut>(
    name: &str,
    backoff: Backoff,
    mut stop: Stop,
    mut run: R,
    mut on_failure: H,
) where
    E: Send + 'static,
    R: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    H: FnMut(Failure<E>, u32) -> HFut,
    HFut: Future<Output = Option<Duration>>,
{
    let mut failures = 0u32;
    loop {
        if stopping(&stop) {
            return;
        }
        let started = Instant::now();
        let failure = match tokio::spawn(run()).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => Failure::Error(e),
            Err(join) => {
                let message = match join.try_into_panic() {
                    Ok(payload) => panic_message(payload.as_ref()),
                    Err(join) => join.to_string(),
                };
                error!(task = name, panic = %message, "Task panicked; restarting it.");
                Failure::Panic(message)
            }
        };
        if stopping(&stop) {
            return;
        }
        if started.elapsed() >= backoff.healthy_after {
            failures = 0;
        }
        failures += 1;
        let delay = on_failure(failure, failures)
            .await
            .unwrap_or_else(|| backoff.delay(failures));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    const FAST: Backoff = Backoff {
        first: Duration::from_millis(1),
        cap: Duration::from_millis(4),
        healthy_after: Duration::from_secs(60),
    };

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter() {
        let b = Backoff {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            healthy_after: Duration::from_secs(120),
        };
        for (failures, base) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (9, 256.0),
            (10, 300.0),
            (99, 300.0),
        ] {
            let d = b.delay(failures).as_secs_f64();
            assert!(
                d >= base * 0.75 - 1e-9 && d <= base * 1.25 + 1e-9,
                "{failures}: {d}"
            );
        }
    }

    #[tokio::test]
    async fn errors_and_panics_are_retried_until_a_run_succeeds() {
        let (_tx, stop) = watch::channel(false);
        let runs = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let r = Arc::clone(&runs);
        let s = Arc::clone(&seen);
        supervise(
            "test",
            FAST,
            stop,
            move || {
                let n = r.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        0 => Err("broken"),
                        1 => panic!("boom {n}"),
                        _ => Ok(()),
                    }
                }
            },
            move |failure, failures| {
                s.lock().unwrap().push((failure.to_string(), failures));
                async { None }
            },
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                ("broken".to_string(), 1),
                ("the task panicked: boom 1".to_string(), 2)
            ]
        );
    }

    #[tokio::test]
    async fn the_stop_ends_the_wait_between_runs() {
        let (tx, stop) = watch::channel(false);
        let runs = Arc::new(AtomicU32::new(0));
        let r = Arc::clone(&runs);
        let supervisor = tokio::spawn(supervise(
            "test",
            FAST,
            stop,
            move || {
                r.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>("always") }
            },
            // A long wait: only the stop can end it.
            |_, _| async { Some(Duration::from_secs(3600)) },
        ));
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), supervisor)
            .await
            .expect("the supervisor stops")
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
