//! Reports take turns on a share of the pool.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

/// How long a report waits for its turn before answering 503: reports take seconds each, so a
/// supervisor queued behind a few of them should get theirs rather than an error.
const WAIT: Duration = Duration::from_secs(30);

/// At most a quarter of the pool's connections (at least one) run reports at once; the others
/// wait here, holding no connection. A report holds its connection for seconds over years of
/// records, and eight at the end of a month took every connection of the default pool: each
/// counsellor's request at the desk then waited out the checkout timeout and got 503.
pub struct ReportTurns {
    permits: Semaphore,
}

impl ReportTurns {
    pub fn for_pool(pool_size: u32) -> Self {
        let share = usize::try_from(pool_size / 4).unwrap_or(1).max(1);
        Self {
            permits: Semaphore::new(share),
        }
    }

    /// This report's turn, held until the permit is dropped; 503 (busy) after [`WAIT`].
    pub async fn take(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(WAIT, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ApiError::internal("report turns closed")),
            Err(_) => Err(ApiError::busy()),
        }
    }
}
