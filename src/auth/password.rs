//! Password hashing (argon2id) and the password policy.
//!
//! Hashing costs ~20 ms of CPU and 19 MiB at OWASP settings, so it runs on threads of its own,
//! half the CPUs (at least one), at a lower scheduling priority: a burst of logins queues here
//! and yields the cores to the desk's requests whenever both want them, and holds at most that
//! many 19 MiB blocks. An unknown user is checked against a dummy hash so that the response time
//! does not reveal which usernames exist.

use std::sync::{mpsc, Arc, Mutex, PoisonError};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::oneshot;

use crate::config::PasswordHashing;
use crate::error::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Common passwords of policy length, refused whatever their case.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// How much less CPU a hashing thread gets than a request's when both are runnable (the Linux
/// nice value: at 10 the scheduler gives it about a tenth of a request thread's share). When
/// the cores are otherwise idle a hash runs at full speed.
#[cfg(target_os = "linux")]
const HASHING_NICENESS: libc::c_int = 10;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub fn new(cost: PasswordHashing) -> anyhow::Result<Self> {
        let params = match cost {
            PasswordHashing::Owasp => Params::new(19 * 1024, 2, 1, None),
            PasswordHashing::FastInsecure => Params::new(256, 1, 1, None),
        }
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let dummy_hash = hash_with(&params, uuid::Uuid::now_v7().to_string().as_bytes())?;
        Ok(Self {
            params,
            jobs: start_hashers(concurrent_hashes())?,
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let params = self.params.clone();
        self.off_executor(move || {
            hash_with(&params, password.as_bytes()).map_err(ApiError::internal)
        })
        .await
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user) the dummy hash
    /// is checked so the work done is the same, and the answer is always false.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let matches = self
            .off_executor(move || {
                let Ok(parsed) = PasswordHash::new(&hash) else {
                    return Ok(false);
                };
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    async fn off_executor<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Box::new(move || drop(done.send(work()))))
            .map_err(|_| ApiError::internal("password hashing stopped"))?;
        outcome
            .await
            .map_err(|_| ApiError::internal("password hashing worker stopped"))?
    }
}

/// Starts `count` hashing threads sharing one queue; they stop when the last sender is dropped.
fn start_hashers(count: usize) -> std::io::Result<mpsc::Sender<Job>> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..count {
        let queue = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("password-hash".into())
            .spawn(move || {
                lower_priority();
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(job) = next else { return };
                    job();
                }
            })?;
    }
    Ok(jobs)
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

/// How many hashes may run at once: half the CPUs, at least one.
fn concurrent_hashes() -> usize {
    (std::thread::available_parallelism().map_or(2, usize::from) / 2).max(1)
}

fn hash_with(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

/// The password policy: 12–256 characters, not containing the username, not a common password.
/// Returns the reason a password is refused.
pub fn check_policy(password: &str, username: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    let lowered = password.to_lowercase();
    if !username.is_empty() && lowered.contains(&username.to_lowercase()) {
        return Err("must not contain the username".into());
    }
    if COMMON_PASSWORDS
        .lines()
        .any(|common| !common.is_empty() && common == lowered)
    {
        return Err("is too common; choose a passphrase of several unrelated words".into());
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(c))
    {
        return Err("must not repeat a single character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_common_and_username_passwords() {
        assert!(check_policy("short", "amir").is_err());
        assert!(check_policy("password1234", "amir").is_err());
        assert!(check_policy("xx-amir-rahimov-xx", "amir").is_err());
        assert!(check_policy("aaaaaaaaaaaaaa", "amir").is_err());
        assert!(check_policy("plum orchard teapot 42", "amir").is_ok());
    }
}
