//! The time risk acceptances run on. Real time, plus an offset that tests move forward
//! (`advance`) to reach an exception's expiry without waiting.
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// Wall-clock time with a movable offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Now, as this process sees it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves this process's time forward (tests).
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}
