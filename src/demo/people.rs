//! Demo people with the distributions of a Tajik migrant resource centre's caseload: mostly
//! young men bound for Russia, many returnees, names in Cyrillic and Latin script.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use rand::seq::IndexedRandom;
use rand::Rng;

use super::bulk::{ConsentEvent, NameToken, Rows, VulnerabilityFlag};
use super::staff::Desk;
use crate::migrants::model::{ConsentScope, Migrant, MigrationStatus, Sex, Vulnerability};
use crate::migrants::names;
use crate::users::User;

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

const SEXES: &[(Sex, u32)] = &[(Sex::Male, 70), (Sex::Female, 28), (Sex::Undisclosed, 2)];
const STATUSES: &[(MigrationStatus, u32)] = &[
    (MigrationStatus::Prospective, 40),
    (MigrationStatus::CurrentAbroad, 15),
    (MigrationStatus::Returnee, 35),
    (MigrationStatus::FamilyMember, 8),
    (MigrationStatus::Other, 2),
];
const DESTINATIONS: &[(Option<&str>, u32)] = &[
    (Some("RU"), 58),
    (Some("KZ"), 14),
    (Some("TR"), 8),
    (Some("AE"), 7),
    (Some("KR"), 6),
    (None, 7),
];
const NATIONALITIES: &[(&str, u32)] = &[("TJ", 95), ("UZ", 3), ("AF", 2)];
/// Ages in whole years, as half-open ranges with their weights.
const AGES: &[((i32, i32), u32)] = &[
    ((16, 18), 2),
    ((18, 25), 25),
    ((25, 35), 35),
    ((35, 50), 28),
    ((50, 65), 10),
];
const VULNERABILITIES: &[(Vulnerability, u32)] = &[
    (Vulnerability::StrandedAbroad, 20),
    (Vulnerability::Undocumented, 20),
    (Vulnerability::DebtBondage, 10),
    (Vulnerability::SingleParent, 15),
    (Vulnerability::ChronicIllness, 15),
    (Vulnerability::ViolenceSurvivor, 10),
    (Vulnerability::TraffickingSurvivor, 5),
    (Vulnerability::Disability, 5),
];

/// How far back the demo records go.
pub const HISTORY_DAYS: i64 = 730;

/// One of `choices`, drawn with the weights given.
pub fn weighted<T: Copy>(rng: &mut impl Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
    let mut draw = rng.random_range(0..total);
    for (value, weight) in choices {
        if draw < *weight {
            return *value;
        }
        draw -= weight;
    }
    choices[choices.len() - 1].0
}

/// A moment drawn evenly between `from` and `to` (`from` if they are the same).
pub fn between(rng: &mut impl Rng, from: NaiveDateTime, to: NaiveDateTime) -> NaiveDateTime {
    let seconds = (to - from).num_seconds().max(0);
    from + Duration::seconds(rng.random_range(0..=seconds))
}

/// A migrant registered at `desk` by `counsellor` some time in the last two years.
pub fn migrant(rng: &mut impl Rng, desk: &Desk, counsellor: &User, now: NaiveDateTime) -> Migrant {
    let sex = weighted(rng, SEXES);
    let given = if sex == Sex::Female {
        GIVEN_FEMALE
    } else {
        GIVEN_MALE
    };
    let created = between(rng, now - Duration::days(HISTORY_DAYS), now);
    let (date_of_birth, birth_year) = birth(rng, created.date());
    let migration_status = weighted(rng, STATUSES);
    let mut migrant = Migrant {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: desk.centre.id.clone(),
        registered_by: counsellor.id.clone(),
        given_name: given.choose(rng).copied().unwrap_or("Gulru").to_owned(),
        family_name: FAMILY.choose(rng).copied().unwrap_or("Rahimov").to_owned(),
        patronymic: None,
        sex,
        date_of_birth,
        birth_year,
        nationality: weighted(rng, NATIONALITIES).into(),
        region_of_origin: REGIONS.choose(rng).map(|r| (*r).to_owned()),
        phone: rng
            .random_bool(0.85)
            .then(|| format!("+99290{:07}", rng.random_range(0..10_000_000))),
        preferred_language: Some(if rng.random_bool(0.65) { "tg" } else { "ru" }.into()),
        migration_status,
        destination_country: weighted(rng, DESTINATIONS).map(str::to_owned),
        consent_services_given_at: Some(created),
        consent_services_withdrawn_at: None,
        consent_referral_sharing_given_at: rng.random_bool(0.85).then_some(created),
        consent_referral_sharing_withdrawn_at: None,
        consent_statistics_given_at: rng.random_bool(0.93).then_some(created),
        consent_statistics_withdrawn_at: None,
        version: 1,
        created_at: created,
        updated_at: created,
    };
    if migration_status == MigrationStatus::Prospective && rng.random_bool(0.3) {
        migrant.destination_country = None;
    }
    migrant
}

/// A full birth date (eight in ten), a birth year only, or nothing, for someone of a typical
/// migrant's age on `registered`.
fn birth(rng: &mut impl Rng, registered: NaiveDate) -> (Option<NaiveDate>, Option<i32>) {
    let (youngest, oldest) = weighted(rng, AGES);
    let year = registered.year() - rng.random_range(youngest..oldest);
    match rng.random_range(0..20) {
        0 => (None, None),
        1..=3 => (None, Some(year)),
        _ => {
            let date =
                NaiveDate::from_ymd_opt(year, rng.random_range(1..=12), rng.random_range(1..=28));
            (date, Some(year))
        }
    }
}

/// What registration writes beside the record: search tokens, vulnerabilities (about one in
/// eight people) and a consent event for each consent given.
pub fn registration_rows(rng: &mut impl Rng, migrant: &Migrant, rows: &mut Rows) {
    let tokens = names::tokens([migrant.given_name.as_str(), migrant.family_name.as_str()]);
    rows.name_tokens
        .extend(tokens.into_iter().map(|token| NameToken {
            migrant_id: migrant.id.clone(),
            token,
        }));
    if rng.random_bool(0.12) {
        rows.vulnerabilities.push(VulnerabilityFlag {
            migrant_id: migrant.id.clone(),
            flag: weighted(rng, VULNERABILITIES),
        });
    }
    for scope in ConsentScope::ALL {
        if let (Some(at), _) = migrant.consent(*scope) {
            rows.consent_events.push(ConsentEvent {
                id: uuid::Uuid::now_v7().to_string(),
                migrant_id: migrant.id.clone(),
                scope: *scope,
                given: true,
                at,
                recorded_by: migrant.registered_by.clone(),
            });
        }
    }
}
