//! `karvon seed-demo`: a demo centre with staff, a referral directory and realistic records, for
//! front-end developers, trainings and benchmarks. Never run it on a production database: the demo
//! accounts share one published password.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rand::seq::IndexedRandom;
use rand::Rng;

use crate::auth::credentials::username_key;
use crate::auth::password::Passwords;
use crate::auth::roles::Role;
use crate::cases::model::{Case, CaseEventKind, CaseStatus, Priority};
use crate::centres::Centre;
use crate::config::{DatabaseConfig, PasswordHashing};
use crate::consultations::model::{Channel, Consultation, Topic};
use crate::db::schema::{
    case_events, cases, centres, consultations, migrants, service_providers, users,
};
use crate::db::DbConnection;
use crate::migrants::model::{ConsentScope, Migrant, MigrationStatus, Sex};
use crate::providers::model::{name_key, Provider, ProviderKind};
use crate::users::User;

/// The password of every demo account (printed by the command).
pub const DEMO_PASSWORD: &str = "demo-password-karvon";

const GIVEN_FEMALE: &[&str] = &[
    "Гулру",
    "Gulru",
    "Мадина",
    "Madina",
    "Нигина",
    "Nigina",
    "Зарина",
    "Zarina",
    "Шаҳло",
    "Shahlo",
    "Фарзона",
    "Farzona",
    "Мунира",
    "Munira",
    "Дилноза",
    "Dilnoza",
];
const GIVEN_MALE: &[&str] = &[
    "Фарҳод",
    "Farhod",
    "Хуршед",
    "Khurshed",
    "Рустам",
    "Rustam",
    "Бахтиёр",
    "Bakhtiyor",
    "Ҷамшед",
    "Jamshed",
    "Сино",
    "Sino",
    "Далер",
    "Daler",
    "Умед",
    "Umed",
];
const FAMILY: &[&str] = &[
    "Джабборзода",
    "Jabborzoda",
    "Раҳимов",
    "Rahimov",
    "Назаров",
    "Nazarov",
    "Қодирова",
    "Qodirova",
    "Саидзода",
    "Saidzoda",
    "Шарипов",
    "Sharipov",
    "Алиева",
    "Alieva",
    "Холов",
    "Kholov",
    "Мирзоев",
    "Mirzoev",
    "Исмоилзода",
    "Ismoilzoda",
];
const REGIONS: &[&str] = &[
    "Khatlon",
    "Sughd",
    "GBAO",
    "Dushanbe",
    "Districts of Republican Subordination",
];

pub struct Seeded {
    pub centre_id: String,
    pub usernames: Vec<String>,
    pub migrants: usize,
}

/// Adds a demo centre with `migrant_count` migrants (a third with an open case, each with two
/// consultations over the last year) to the database.
pub async fn seed(database: &DatabaseConfig, migrant_count: usize) -> anyhow::Result<Seeded> {
    let hash = Passwords::new(PasswordHashing::Owasp)?
        .hash(DEMO_PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = database.database_url.clone();
    tokio::task::spawn_blocking(move || {
        let pool = crate::db::build_pool(&url, 1, false, crate::db::CHECKOUT_TIMEOUT);
        let mut conn = pool.get()?;
        crate::db::run_migrations(&mut conn)?;
        seed_blocking(&mut conn, &hash, migrant_count)
    })
    .await?
}

/// People are written in batches of this many per transaction.
const BATCH: usize = 500;

fn seed_blocking(
    conn: &mut DbConnection,
    hash: &str,
    migrant_count: usize,
) -> anyhow::Result<Seeded> {
    let now = crate::time::now();
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let centre = demo_centre(suffix, now);
    let staff = demo_staff(&centre.id, suffix, hash, now);
    let usernames = staff.iter().map(|u| u.username.clone()).collect();
    crate::db::write_transaction(conn, |conn| {
        insert_centre_and_staff(conn, &centre, &staff)?;
        insert_directory(conn, &centre.id, suffix, now)?;
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    let desk = Desk {
        centre_id: &centre.id,
        counsellors: staff
            .iter()
            .filter(|u| u.role == Role::Counsellor)
            .collect(),
        fallback: &staff[0],
        now,
        today: chrono::Utc::now().date_naive(),
    };
    let mut rng = rand::rng();
    for batch_start in (0..migrant_count).step_by(BATCH) {
        let batch_end = (batch_start + BATCH).min(migrant_count);
        crate::db::write_transaction(conn, |conn| {
            for _ in batch_start..batch_end {
                seed_person(conn, &mut rng, &desk)?;
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // Fresh planner statistics: without them PostgreSQL plans the first searches after a bulk
    // load as if the tables were empty.
    conn.batch_execute("ANALYZE")?;
    Ok(Seeded {
        centre_id: centre.id,
        usernames,
        migrants: migrant_count,
    })
}

fn demo_centre(suffix: &str, now: NaiveDateTime) -> Centre {
    Centre {
        id: uuid::Uuid::now_v7().to_string(),
        name: format!("Demo MRC Dushanbe {suffix}"),
        city: "Dushanbe".into(),
        country: "TJ".into(),
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// A supervisor and three counsellors, all with the demo password.
fn demo_staff(centre_id: &str, suffix: &str, hash: &str, now: NaiveDateTime) -> Vec<User> {
    [
        Role::Supervisor,
        Role::Counsellor,
        Role::Counsellor,
        Role::Counsellor,
    ]
    .into_iter()
    .enumerate()
    .map(|(index, role)| {
        let role_name = role.as_str();
        let username = format!("demo.{role_name}{index}.{suffix}");
        User {
            id: uuid::Uuid::now_v7().to_string(),
            username_key: username_key(&username),
            username,
            full_name: format!("Demo {role_name} {index}"),
            email: None,
            role,
            centre_id: Some(centre_id.to_owned()),
            active: true,
            must_change_password: false,
            password_hash: hash.to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    })
    .collect()
}

fn insert_centre_and_staff(
    conn: &mut DbConnection,
    centre: &Centre,
    staff: &[User],
) -> QueryResult<()> {
    diesel::insert_into(centres::table)
        .values(centre)
        .execute(conn)?;
    for user in staff {
        diesel::insert_into(users::table)
            .values(user)
            .execute(conn)?;
    }
    Ok(())
}

/// The centre's own referral directory: one provider of each common kind.
fn insert_directory(
    conn: &mut DbConnection,
    centre_id: &str,
    suffix: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    for (index, kind) in [
        ProviderKind::LegalAid,
        ProviderKind::Health,
        ProviderKind::Shelter,
        ProviderKind::Employment,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("Demo {} service {suffix}-{index}", kind.as_str());
        let provider = Provider {
            id: uuid::Uuid::now_v7().to_string(),
            centre_id: Some(centre_id.to_owned()),
            name_key: name_key(&name),
            name,
            kind,
            description: None,
            address: None,
            city: Some("Dushanbe".into()),
            country: Some("TJ".into()),
            phone: None,
            email: None,
            website: None,
            opening_hours: Some("Mon–Fri 9:00–17:00".into()),
            accepts_referrals: true,
            active: true,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(service_providers::table)
            .values(&provider)
            .execute(conn)?;
    }
    Ok(())
}

/// What every demo person of the centre is seeded against.
struct Desk<'a> {
    centre_id: &'a str,
    counsellors: Vec<&'a User>,
    /// Registers people if the centre has no counsellor.
    fallback: &'a User,
    now: NaiveDateTime,
    today: NaiveDate,
}

/// One migrant, registered by a random counsellor, with a case a third of the time and two
/// consultations. The random draws happen in a fixed order, so one random stream gives one data
/// set.
fn seed_person(conn: &mut DbConnection, rng: &mut impl Rng, desk: &Desk) -> QueryResult<()> {
    let female = rng.random_bool(0.5);
    let counsellor = desk
        .counsellors
        .choose(rng)
        .copied()
        .unwrap_or(desk.fallback);
    let migrant = demo_migrant(rng, desk, counsellor, female);
    diesel::insert_into(migrants::table)
        .values(&migrant)
        .execute(conn)?;
    crate::migrants::queries::store_name_tokens(conn, &migrant)?;
    let case_id = if rng.random_bool(0.33) {
        Some(open_demo_case(conn, rng, &migrant, counsellor)?)
    } else {
        None
    };
    for _ in 0..2 {
        log_demo_consultation(conn, rng, desk, &migrant, case_id.as_deref())?;
    }
    Ok(())
}

fn demo_migrant(rng: &mut impl Rng, desk: &Desk, counsellor: &User, female: bool) -> Migrant {
    let sex = if female { Sex::Female } else { Sex::Male };
    let given = if female { GIVEN_FEMALE } else { GIVEN_MALE };
    let year = desk.today.year() - rng.random_range(18..60);
    let dob = NaiveDate::from_ymd_opt(year, rng.random_range(1..=12), rng.random_range(1..=28));
    let created = desk.now - Duration::days(rng.random_range(0..1500));
    let mut migrant = Migrant {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: desk.centre_id.to_owned(),
        registered_by: counsellor.id.clone(),
        given_name: given.choose(rng).copied().unwrap_or("Gulru").to_owned(),
        family_name: FAMILY.choose(rng).copied().unwrap_or("Rahimov").to_owned(),
        patronymic: None,
        sex,
        date_of_birth: dob,
        birth_year: Some(year),
        nationality: "TJ".into(),
        region_of_origin: REGIONS.choose(rng).map(|r| (*r).to_owned()),
        phone: Some(format!("+99290{:07}", rng.random_range(0..10_000_000))),
        preferred_language: Some(if rng.random_bool(0.7) { "tg" } else { "ru" }.into()),
        migration_status: MigrationStatus::ALL
            .choose(rng)
            .copied()
            .unwrap_or(MigrationStatus::Prospective),
        destination_country: Some(if rng.random_bool(0.8) { "RU" } else { "KZ" }.into()),
        consent_services_given_at: None,
        consent_services_withdrawn_at: None,
        consent_referral_sharing_given_at: None,
        consent_referral_sharing_withdrawn_at: None,
        consent_statistics_given_at: None,
        consent_statistics_withdrawn_at: None,
        version: 1,
        created_at: created,
        updated_at: created,
    };
    for scope in ConsentScope::ALL {
        migrant.set_consent(*scope, Some(created), None);
    }
    migrant
}

/// An open case for the migrant, assigned to the counsellor who registered them, with its
/// `opened` event. Returns the case id.
fn open_demo_case(
    conn: &mut DbConnection,
    rng: &mut impl Rng,
    migrant: &Migrant,
    counsellor: &User,
) -> QueryResult<String> {
    let opened = migrant.created_at;
    let case = Case {
        id: uuid::Uuid::now_v7().to_string(),
        migrant_id: migrant.id.clone(),
        centre_id: migrant.centre_id.clone(),
        assigned_to: counsellor.id.clone(),
        opened_by: counsellor.id.clone(),
        status: CaseStatus::Open,
        priority: Priority::ALL
            .choose(rng)
            .copied()
            .unwrap_or(Priority::Normal),
        summary: "Demo case: unpaid wages abroad".into(),
        opened_at: opened,
        closed_at: None,
        closure_reason: None,
        version: 1,
        created_at: opened,
        updated_at: opened,
    };
    diesel::insert_into(cases::table)
        .values(&case)
        .execute(conn)?;
    diesel::insert_into(case_events::table)
        .values((
            case_events::id.eq(uuid::Uuid::now_v7().to_string()),
            case_events::case_id.eq(&case.id),
            case_events::at.eq(opened),
            case_events::actor_id.eq(&counsellor.id),
            case_events::kind.eq(CaseEventKind::Opened),
            case_events::assigned_to.eq(&counsellor.id),
        ))
        .execute(conn)?;
    Ok(case.id)
}

/// A consultation by the counsellor who registered the migrant, some time in the last year, on
/// their case if they have one.
fn log_demo_consultation(
    conn: &mut DbConnection,
    rng: &mut impl Rng,
    desk: &Desk,
    migrant: &Migrant,
    case_id: Option<&str>,
) -> QueryResult<()> {
    let at = desk.now - Duration::minutes(rng.random_range(0..525_600));
    let consultation = Consultation {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: desk.centre_id.to_owned(),
        counsellor_id: migrant.registered_by.clone(),
        migrant_id: Some(migrant.id.clone()),
        case_id: case_id.map(str::to_owned),
        anonymous_sex: None,
        anonymous_age_band: None,
        anonymous_nationality: None,
        anonymous_migration_status: None,
        occurred_at: at,
        channel: Channel::ALL.choose(rng).copied().unwrap_or(Channel::WalkIn),
        duration_minutes: rng.random_range(5..60),
        language: "tg".into(),
        notes: "Demo consultation notes".into(),
        outcome: None,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(consultations::table)
        .values(&consultation)
        .execute(conn)?;
    let topic = Topic::ALL.choose(rng).copied().unwrap_or(Topic::Other);
    crate::consultations::queries::store_topics(conn, &consultation.id, &[topic])
}
