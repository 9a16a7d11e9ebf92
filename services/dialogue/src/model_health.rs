//! Whether the language model answers, as phrasing finds it turn by turn. A model that fails
//! (down, errors, cut stream, nothing within the budget) makes the dialogue *degraded*, not
//! unavailable: replies keep their templates, the change is logged once (and once again when
//! the model answers), and counters say how often. While degraded the model is asked at most
//! once per [`PROBE_EVERY`], so a hung server does not cost every turn its whole budget. The
//! dialogue's own health stays SERVING: templates answer every customer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// While degraded, how often one turn tries the model again.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);

/// The language model's state and counters (one per loaded model).
#[derive(Debug, Default)]
pub struct ModelHealth {
    degraded: AtomicBool,
    failures: AtomicU64,
    skipped: AtomicU64,
    /// While degraded: when the next turn may try the model.
    next_probe: Mutex<Option<Instant>>,
}

impl ModelHealth {
    /// The latest request failed: replies keep their templates until one succeeds.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Requests that failed since start.
    pub fn failures_total(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Turns that did not ask the model because it was degraded (between probes).
    pub fn skipped_total(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Whether this turn may ask the model: always when healthy; while degraded, once per
    /// [`PROBE_EVERY`].
    pub fn may_try(&self, now: Instant) -> bool {
        if !self.is_degraded() {
            return true;
        }
        let mut next = self.next_probe.lock().unwrap_or_else(|e| e.into_inner());
        match *next {
            Some(at) if now < at => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => {
                *next = Some(now + PROBE_EVERY);
                true
            }
        }
    }

    /// The model answered; logs the recovery when it was degraded.
    pub fn record_ok(&self, model: &str) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(
                model,
                "language model answers again; replies are phrased again"
            );
        }
    }

    /// The model failed (`kind`: endpoint, overloaded, disconnected, timeout …); logs the
    /// change to degraded once, every failure at debug.
    pub fn record_failure(&self, model: &str, kind: &str, now: Instant) {
        let total = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        *self.next_probe.lock().unwrap_or_else(|e| e.into_inner()) = Some(now + PROBE_EVERY);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                model,
                kind,
                failures = total,
                probe_every_s = PROBE_EVERY.as_secs(),
                "language model degraded: replies keep their templates until it answers again"
            );
        } else {
            tracing::debug!(
                model,
                kind,
                failures = total,
                "language model still failing"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degraded_until_it_answers_and_probed_between() {
        let h = ModelHealth::default();
        let t0 = Instant::now();
        assert!(!h.is_degraded() && h.may_try(t0));
        h.record_failure("m", "endpoint", t0);
        assert!(h.is_degraded());
        assert_eq!(h.failures_total(), 1);
        assert!(!h.may_try(t0 + Duration::from_secs(1)), "between probes");
        assert_eq!(h.skipped_total(), 1);
        assert!(h.may_try(t0 + PROBE_EVERY), "a probe");
        assert!(!h.may_try(t0 + PROBE_EVERY), "one probe at a time");
        h.record_ok("m");
        assert!(!h.is_degraded() && h.may_try(t0 + PROBE_EVERY));
    }
}
