//! The threads that hash passwords: half the CPUs (at least one), at a lower scheduling priority.
//!
//! A burst of logins queues here and yields the cores to the desk's requests whenever both want
//! them, and holds at most one 9 MiB block per thread. Each thread keeps its block while logins
//! keep coming and frees it when the queue runs dry: allocating it afresh for every hash cost a
//! third of the hash's CPU in page faults and unmapping, and disturbed every other thread.

use std::sync::{mpsc, Arc, Mutex, PoisonError, TryLockError};

use argon2::{Block, Params};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// How much less CPU a hashing thread gets than a request's when both are runnable (the Linux
/// nice value: at 10 the scheduler gives it about a tenth of a request thread's share). When
/// the cores are otherwise idle a hash runs at full speed.
#[cfg(target_os = "linux")]
const HASHING_NICENESS: libc::c_int = 10;

/// argon2's working memory, kept between hashes while there are more to do.
#[derive(Default)]
pub struct Memory(Vec<Block>);

impl Memory {
    /// The blocks `params` needs, reusing (and overwriting) what an earlier hash left.
    pub fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.0.len() < count {
            self.0 = vec![Block::default(); count];
        }
        &mut self.0[..count]
    }
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The queue of the hashing threads; they stop when the last clone is dropped.
#[derive(Clone)]
pub struct Hashers {
    jobs: mpsc::Sender<Job>,
}

impl Hashers {
    pub fn start() -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..concurrent_hashes() {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("password-hash".into())
                .spawn(move || work(&queue))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a hashing thread and returns what it returned.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Memory) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Box::new(move |memory| drop(done.send(job(memory)))))
            .map_err(|_| ApiError::internal("password hashing stopped"))?;
        outcome
            .await
            .map_err(|_| ApiError::internal("password hashing worker stopped"))?
    }
}

/// How many hashes may run at once: half the CPUs, at least one.
fn concurrent_hashes() -> usize {
    (std::thread::available_parallelism().map_or(2, usize::from) / 2).max(1)
}

fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    let mut memory = Memory::default();
    loop {
        let Some(job) = next_job(queue, &mut memory) else {
            return;
        };
        // A panic fails only its own login (its answer channel is dropped: 500), not the
        // thread, which may be the only one.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
        if ran.is_err() {
            memory = Memory::default();
        }
    }
}

/// The next login to hash, or `None` once the queue is closed. A thread that would have to wait,
/// for the queue's lock (another thread sits in it, waiting for work) or for work itself, frees
/// its block first: idle memory is given back however many hashing threads there are.
fn next_job(queue: &Mutex<mpsc::Receiver<Job>>, memory: &mut Memory) -> Option<Job> {
    let queue = match queue.try_lock() {
        Ok(queue) => queue,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            *memory = Memory::default();
            queue.lock().unwrap_or_else(PoisonError::into_inner)
        }
    };
    queue
        .try_recv()
        .or_else(|_| {
            *memory = Memory::default();
            queue.recv()
        })
        .ok()
}

/// Lowers the calling thread's scheduling priority (on Linux the nice value is per thread).
/// Lowering needs no privilege; where it is refused the thread keeps the default priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority takes plain integers and only changes this thread's nice value.
    unsafe {
        let thread = libc::id_t::try_from(libc::gettid()).unwrap_or(0);
        libc::setpriority(libc::PRIO_PROCESS, thread, HASHING_NICENESS);
    }
}
