//! Demo consultations: with registered people (on their case while it is open) and anonymous
//! one-off ones, with topics that fit the person's migration status.

use chrono::{Duration, NaiveDateTime};
use rand::seq::IndexedRandom;
use rand::Rng;

use super::bulk::{ConsultationTopic, Rows};
use super::people::{between, weighted, HISTORY_DAYS};
use super::staff::Desk;
use crate::cases::model::Case;
use crate::consultations::model::{AgeBand, Channel, Consultation, Topic};
use crate::migrants::model::{Migrant, MigrationStatus, Sex};

const CHANNELS: &[(Channel, u32)] = &[
    (Channel::WalkIn, 55),
    (Channel::Phone, 25),
    (Channel::Online, 12),
    (Channel::Outreach, 8),
];
const NOTES: &[&str] = &[
    "Asked about work permits (patent) and registration on arrival.",
    "Спрашивал о патенте и регистрации по месту пребывания.",
    "Employer has not paid wages for three months.",
    "Работодатель не выплачивает зарплату три месяца.",
    "Entry ban: wants to know how to check and appeal it.",
    "Returned home, looking for work and vocational training.",
    "Asked how to send money home safely and cheaply.",
    "Family member abroad unreachable for two weeks.",
];
const OUTCOMES: &[&str] = &[
    "Information given; leaflet handed over.",
    "Referred to legal aid.",
    "Will come back with documents.",
    "Консультация проведена, даны контакты посольства.",
];

/// The topics people of each migration status ask about, with their weights.
fn topics_of(status: MigrationStatus) -> &'static [(Topic, u32)] {
    match status {
        MigrationStatus::Prospective => &[
            (Topic::PreDeparture, 40),
            (Topic::EmploymentAbroad, 30),
            (Topic::LegalDocuments, 20),
            (Topic::LabourRights, 10),
            (Topic::TraffickingRisk, 5),
            (Topic::Remittances, 5),
        ],
        MigrationStatus::CurrentAbroad => &[
            (Topic::LabourRights, 30),
            (Topic::LegalDocuments, 30),
            (Topic::Remittances, 15),
            (Topic::Health, 10),
            (Topic::Family, 10),
        ],
        MigrationStatus::Returnee => &[
            (Topic::ReturnReintegration, 40),
            (Topic::EmploymentAbroad, 15),
            (Topic::LabourRights, 15),
            (Topic::LegalDocuments, 10),
            (Topic::Health, 10),
            (Topic::Education, 5),
        ],
        MigrationStatus::FamilyMember => &[
            (Topic::Family, 40),
            (Topic::Remittances, 30),
            (Topic::LegalDocuments, 15),
            (Topic::Health, 15),
        ],
        MigrationStatus::Other => &[
            (Topic::Other, 50),
            (Topic::LegalDocuments, 25),
            (Topic::Health, 25),
        ],
    }
}

/// One to three distinct topics (most consultations have one).
fn topics(rng: &mut impl Rng, status: MigrationStatus, consultation_id: &str, rows: &mut Rows) {
    let wanted = weighted(rng, &[(1, 65), (2, 28), (3, 7)]);
    let mut chosen: Vec<Topic> = Vec::with_capacity(wanted);
    for _ in 0..wanted {
        let topic = weighted(rng, topics_of(status));
        if !chosen.contains(&topic) {
            chosen.push(topic);
        }
    }
    rows.topics
        .extend(chosen.into_iter().map(|topic| ConsultationTopic {
            consultation_id: consultation_id.to_owned(),
            topic,
        }));
}

/// A consultation with its common fields drawn; who it was with is left to the caller.
fn consultation(
    rng: &mut impl Rng,
    centre_id: &str,
    counsellor_id: &str,
    at: NaiveDateTime,
) -> Consultation {
    Consultation {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: centre_id.to_owned(),
        counsellor_id: counsellor_id.to_owned(),
        migrant_id: None,
        case_id: None,
        anonymous_sex: None,
        anonymous_age_band: None,
        anonymous_nationality: None,
        anonymous_migration_status: None,
        occurred_at: at,
        channel: weighted(rng, CHANNELS),
        duration_minutes: rng.random_range(10..60),
        language: if rng.random_bool(0.65) { "tg" } else { "ru" }.into(),
        notes: NOTES.choose(rng).copied().unwrap_or_default().into(),
        outcome: rng
            .random_bool(0.6)
            .then(|| OUTCOMES.choose(rng).copied().unwrap_or_default().into()),
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// `count` consultations with a registered person: the first when they registered, the others
/// since; those while their case was open are on the case.
pub fn with_person(
    rng: &mut impl Rng,
    migrant: &Migrant,
    case: Option<&Case>,
    count: usize,
    now: NaiveDateTime,
    rows: &mut Rows,
) {
    for index in 0..count {
        let at = match index {
            0 => migrant.created_at,
            _ => between(rng, migrant.created_at, now),
        };
        let mut visit = consultation(rng, &migrant.centre_id, &migrant.registered_by, at);
        visit.migrant_id = Some(migrant.id.clone());
        visit.case_id = case
            .filter(|c| c.opened_at <= at && c.closed_at.is_none_or(|closed| at <= closed))
            .map(|c| c.id.clone());
        topics(rng, migrant.migration_status, &visit.id, rows);
        rows.consultations.push(visit);
    }
}

/// A one-off consultation with someone who did not register: only what statistics need.
pub fn anonymous(rng: &mut impl Rng, desk: &Desk, now: NaiveDateTime, rows: &mut Rows) {
    let counsellor = desk.counsellors().choose(rng).unwrap_or(&desk.staff[0]);
    let at = between(rng, now - Duration::days(HISTORY_DAYS), now);
    let status = weighted(
        rng,
        &[
            (MigrationStatus::Prospective, 60),
            (MigrationStatus::Returnee, 25),
            (MigrationStatus::CurrentAbroad, 15),
        ],
    );
    let mut visit = consultation(rng, &desk.centre.id, &counsellor.id, at);
    visit.anonymous_sex = Some(weighted(rng, &[(Sex::Male, 70), (Sex::Female, 30)]));
    visit.anonymous_age_band = Some(weighted(
        rng,
        &[
            (AgeBand::From18To24, 30),
            (AgeBand::From25To34, 40),
            (AgeBand::From35To49, 25),
            (AgeBand::Over50, 5),
        ],
    ));
    visit.anonymous_nationality = Some("TJ".into());
    visit.anonymous_migration_status = Some(status);
    topics(rng, status, &visit.id, rows);
    rows.consultations.push(visit);
}
