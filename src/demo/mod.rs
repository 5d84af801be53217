//! `karvon seed-demo`: demo centres with staff, a referral directory and two years of realistic
//! records, for front-end developers, trainings, reports and benchmarks (a million consultations
//! in minutes). Never run it on a production database: the demo accounts share one published
//! password.

mod bulk;
mod care;
mod people;
mod sessions;
mod staff;
mod visits;

use std::sync::mpsc::Receiver;
use std::sync::Mutex;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::auth::password::Passwords;
use crate::config::{DatabaseConfig, PasswordHashing};
use crate::db::{DatabaseUrl, DbConnection, Pool};
use crate::reports::facts::{self, Refresh};
use bulk::Rows;
use staff::Desk;

/// The password of every demo account (printed by the command).
pub const DEMO_PASSWORD: &str = "demo-password-karvon";

/// People are written this many per transaction, table by table in multi-row inserts.
const PEOPLE_PER_TRANSACTION: usize = 1000;

/// One anonymous consultation is seeded for every this many registered people.
const PEOPLE_PER_ANONYMOUS_CONSULTATION: usize = 10;

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Registered migrants, spread evenly over the centres.
    pub migrants: usize,
    /// Consultations per registered migrant on average (each has at least one).
    pub consultations_per_migrant: usize,
    /// Demo centres to open, each with a supervisor and three counsellors.
    pub centres: usize,
    /// The random stream: one seed gives the same people and records (their ids, and dates
    /// relative to today, aside).
    pub seed: u64,
}

/// A demo centre and its accounts: the supervisor first, then the counsellors.
#[derive(Debug, Clone)]
pub struct SeededCentre {
    pub id: String,
    pub usernames: Vec<String>,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub centres: Vec<SeededCentre>,
    pub migrants: usize,
    /// With registered and anonymous people.
    pub consultations: usize,
    pub anonymous_consultations: usize,
    pub cases: usize,
    pub open_cases: usize,
    pub referrals: usize,
    pub follow_ups: usize,
    pub group_sessions: usize,
    /// Registered attendances and people tallied, over every session.
    pub registered_attendances: usize,
    pub anonymous_attendances: usize,
}

impl Seeded {
    fn count(&mut self, rows: &Rows) {
        self.migrants += rows.migrants.len();
        self.consultations += rows.consultations.len();
        let anonymous = rows.consultations.iter().filter(|c| c.migrant_id.is_none());
        self.anonymous_consultations += anonymous.count();
        self.cases += rows.cases.len();
        self.open_cases += rows.cases.iter().filter(|c| c.is_open()).count();
        self.referrals += rows.referrals.len();
        self.follow_ups += rows.follow_ups.len();
        self.group_sessions += rows.sessions.len();
        self.registered_attendances += rows.attendees.len();
        let tallied: i32 = rows.tallies.iter().map(|t| t.count).sum();
        self.anonymous_attendances += usize::try_from(tallied).unwrap_or_default();
    }
}

/// Adds demo centres and their records to the database, reporting each transaction's people
/// to `progress`.
pub async fn seed(
    database: &DatabaseConfig,
    options: SeedOptions,
    progress: ProgressBar,
) -> anyhow::Result<Seeded> {
    anyhow::ensure!(options.centres >= 1, "--centres must be at least 1");
    anyhow::ensure!(
        options.consultations_per_migrant >= 1,
        "--consultations-per-migrant must be at least 1"
    );
    let hash = Passwords::new(PasswordHashing::Owasp)?
        .hash(DEMO_PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = database.database_url.clone();
    tokio::task::spawn_blocking(move || {
        // PostgreSQL writes two batches at once (one per core here); SQLite has one writer.
        let writers = match url {
            DatabaseUrl::Postgres(_) => 2,
            DatabaseUrl::Sqlite(_) => 1,
        };
        let pool = crate::db::build_pool(&url, writers, false, crate::db::CHECKOUT_TIMEOUT);
        let mut conn = pool.get()?;
        crate::db::run_migrations(&mut conn)?;
        let now = crate::time::now();
        let suffix = &uuid::Uuid::now_v7().simple().to_string()[20..];
        let desks = crate::db::write_transaction(&mut conn, |conn| {
            Ok(staff::open_centres(
                conn,
                options.centres,
                suffix,
                &hash,
                now,
            )?)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        drop(conn);
        let seeded = write_people(&pool, writers, &desks, &options, now, &progress)?;
        // Fresh planner statistics: without them PostgreSQL plans the first queries after a
        // bulk load as if the tables were empty.
        let mut conn = pool.get()?;
        for centre in &seeded.centres {
            note_first_consultations(&mut conn, &centre.id)?;
            facts::refresh(&mut conn, Refresh::Centre(&centre.id))?;
        }
        conn.batch_execute(match url {
            // Vacuumed too: filling in when people were first consulted rewrote their rows.
            DatabaseUrl::Postgres(_) => "VACUUM ANALYZE",
            DatabaseUrl::Sqlite(_) => "ANALYZE",
        })?;
        Ok(seeded)
    })
    .await?
}

/// Generates the people batch by batch on this thread (so one seed gives one data set) while
/// `writers` threads write earlier batches, each in its own transaction.
fn write_people(
    pool: &Pool,
    writers: u32,
    desks: &[Desk],
    options: &SeedOptions,
    now: NaiveDateTime,
    progress: &ProgressBar,
) -> anyhow::Result<Seeded> {
    let mut seeded = Seeded {
        centres: desks.iter().map(seeded_centre).collect(),
        ..Default::default()
    };
    let mut rng = StdRng::seed_from_u64(options.seed);
    progress.set_length(options.migrants as u64);
    let (send, receive) = std::sync::mpsc::sync_channel::<Rows>(writers as usize);
    let receive = Mutex::new(receive);
    std::thread::scope(|scope| {
        let writing: Vec<_> = (0..writers)
            .map(|_| scope.spawn(|| write_batches(pool, &receive, progress)))
            .collect();
        for first in (0..options.migrants).step_by(PEOPLE_PER_TRANSACTION) {
            let people = first..(first + PEOPLE_PER_TRANSACTION).min(options.migrants);
            let rows = batch(&mut rng, desks, people, options, now);
            seeded.count(&rows);
            if send.send(rows).is_err() {
                break; // every writer failed; their errors are reported below
            }
        }
        drop(send);
        for writer in writing {
            writer
                .join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        progress.finish();
        Ok(seeded)
    })
}

/// Writes batches from `receive` until the generator is done.
fn write_batches(
    pool: &Pool,
    receive: &Mutex<Receiver<Rows>>,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let mut conn = pool.get()?;
    loop {
        let next = receive
            .lock()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))?
            .recv();
        let Ok(rows) = next else { return Ok(()) };
        crate::db::write_transaction(&mut conn, |conn| Ok(rows.insert(conn)?))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        progress.inc(rows.migrants.len() as u64);
    }
}

/// When each person of the centre was first consulted, which the API's consultation writes keep
/// and the bulk writes skip (as they skip the report facts, filled in after this).
fn note_first_consultations(conn: &mut DbConnection, centre_id: &str) -> QueryResult<usize> {
    let centre = conn.placeholder(1);
    diesel::sql_query(format!(
        "UPDATE migrants SET first_consulted_at = (SELECT MIN(c.occurred_at) \
         FROM consultations c WHERE c.migrant_id = migrants.id) WHERE centre_id = {centre}"
    ))
    .bind::<Text, _>(centre_id)
    .execute(conn)
}

fn seeded_centre(desk: &Desk) -> SeededCentre {
    SeededCentre {
        id: desk.centre.id.clone(),
        usernames: desk.staff.iter().map(|u| u.username.clone()).collect(),
    }
}

/// The rows of people numbered `people` (spread round the centres), a third of them with a
/// case, and the anonymous consultations that go with so many people.
fn batch(
    rng: &mut impl Rng,
    desks: &[Desk],
    people: std::ops::Range<usize>,
    options: &SeedOptions,
    now: NaiveDateTime,
) -> Rows {
    let mut rows = Rows::default();
    let most_visits = 2 * options.consultations_per_migrant - 1;
    for index in people {
        let desk = &desks[index % desks.len()];
        let counsellor = desk.counsellors().choose(rng).unwrap_or(&desk.staff[0]);
        let migrant = people::migrant(rng, desk, counsellor, now);
        people::registration_rows(rng, &migrant, &mut rows);
        let case = rng
            .random_bool(0.33)
            .then(|| care::case(rng, &migrant, now, &mut rows));
        let visits = rng.random_range(1..=most_visits);
        visits::with_person(rng, &migrant, case.as_ref(), visits, now, &mut rows);
        if let Some(case) = case {
            care::referral(rng, desk, &migrant, &case, now, &mut rows);
            care::follow_ups(rng, &case, now, &mut rows);
            rows.cases.push(case);
        }
        if index % PEOPLE_PER_ANONYMOUS_CONSULTATION == 0 {
            visits::anonymous(rng, desk, now, &mut rows);
        }
        rows.migrants.push(migrant);
    }
    group_sessions(rng, desks, options, now, &mut rows);
    rows
}

/// Each centre's share of sessions for the batch's people, their registered attendees drawn
/// from the batch's people of the centre.
fn group_sessions(
    rng: &mut impl Rng,
    desks: &[Desk],
    options: &SeedOptions,
    now: NaiveDateTime,
    rows: &mut Rows,
) {
    let per_centre = options.migrants.div_ceil(desks.len()).max(1) as f64;
    // Taken out while sessions are added, which borrow the people they draw attendees from.
    let migrants = std::mem::take(&mut rows.migrants);
    for desk in desks {
        let people: Vec<&crate::migrants::model::Migrant> = migrants
            .iter()
            .filter(|m| m.centre_id == desk.centre.id)
            .collect();
        let count = sessions::count_for(rng, people.len() as f64 / per_centre);
        for _ in 0..count {
            sessions::session(rng, desk, &people, now, rows);
        }
    }
    rows.migrants = migrants;
}
