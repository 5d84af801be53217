//! Demo group sessions: a few a week per centre over the demo history, each with 10 to 60
//! people, a third of them registered people of the centre and the rest tallied anonymously.

use chrono::{Duration, NaiveDateTime};
use rand::seq::{IndexedRandom, IteratorRandom};
use rand::Rng;

use super::bulk::{Attendee, Facilitator, Rows, SessionTopic};
use super::people::{between, weighted, HISTORY_DAYS};
use super::staff::Desk;
use crate::consultations::model::{AgeBand, Topic};
use crate::group_sessions::model::{GroupSession, SessionKind, TallyRow};
use crate::migrants::model::{Migrant, MigrationStatus, Sex};

/// Sessions each centre holds in a week, on average.
pub const SESSIONS_PER_WEEK: f64 = 3.0;

const KINDS: &[(SessionKind, u32)] = &[
    (SessionKind::PreDepartureOrientation, 40),
    (SessionKind::Awareness, 20),
    (SessionKind::School, 10),
    (SessionKind::JobFair, 8),
    (SessionKind::CommunityOutreach, 10),
    (SessionKind::Online, 7),
    (SessionKind::ReturneeReintegration, 5),
];

const DISTRICTS: &[&str] = &["Sino", "Firdavsi", "Shohmansur", "Ismoili Somoni", "Vahdat"];

fn title(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::PreDepartureOrientation => "Pre-departure orientation: working legally abroad",
        SessionKind::Awareness => "Safe migration and the risks of trafficking",
        SessionKind::School => "Migration and your future: a talk for final-year pupils",
        SessionKind::JobFair => "Jobs abroad: recruiters, contracts and your rights",
        SessionKind::CommunityOutreach => "Мулоқот дар маҳалла: муҳоҷирати бехатар",
        SessionKind::Online => "Online Q&A: patents, registration and entry bans",
        SessionKind::ReturneeReintegration => "Coming home: work, training and savings",
        SessionKind::Other => "Information session",
    }
}

fn topics(kind: SessionKind) -> &'static [Topic] {
    match kind {
        SessionKind::PreDepartureOrientation => &[Topic::PreDeparture, Topic::LegalDocuments],
        SessionKind::Awareness | SessionKind::CommunityOutreach => {
            &[Topic::TraffickingRisk, Topic::LabourRights]
        }
        SessionKind::School => &[Topic::Education, Topic::PreDeparture],
        SessionKind::JobFair => &[Topic::EmploymentAbroad],
        SessionKind::Online => &[Topic::LegalDocuments],
        SessionKind::ReturneeReintegration => &[Topic::ReturnReintegration],
        SessionKind::Other => &[Topic::Other],
    }
}

/// How many sessions a batch holding `share` of the centre's people adds: its share of the
/// centre's sessions, the fraction drawn, so the batches add up to the centre's total.
pub fn count_for(rng: &mut impl Rng, share: f64) -> usize {
    let expected = SESSIONS_PER_WEEK * HISTORY_DAYS as f64 / 7.0 * share;
    let whole = expected.floor();
    whole as usize + usize::from(rng.random_bool((expected - whole).clamp(0.0, 1.0)))
}

/// One session of the centre with its attendance: registered attendees drawn from `people`
/// (those registered by then), the rest of the 10–60 tallied.
pub fn session(
    rng: &mut impl Rng,
    desk: &Desk,
    people: &[&Migrant],
    now: NaiveDateTime,
    rows: &mut Rows,
) {
    let kind = weighted(rng, KINDS);
    let starts_at = between(rng, now - Duration::days(HISTORY_DAYS), now);
    let facilitator = desk.counsellors().choose(rng).unwrap_or(&desk.staff[0]);
    let online = kind == SessionKind::Online;
    let session = GroupSession {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: desk.centre.id.clone(),
        created_by: facilitator.id.clone(),
        kind,
        title: title(kind).into(),
        starts_at,
        duration_minutes: weighted(rng, &[(60, 30), (90, 40), (120, 30)]),
        city: (!online).then(|| desk.centre.city.clone()),
        district: (!online).then(|| DISTRICTS.choose(rng).copied().unwrap_or_default().into()),
        venue: None,
        language: if rng.random_bool(0.7) { "tg" } else { "ru" }.into(),
        partner_provider_id: None,
        notes: String::new(),
        version: 1,
        created_at: starts_at,
        updated_at: starts_at,
    };
    let attendance: usize = rng.random_range(10..=60);
    let registered = people
        .iter()
        .filter(|m| m.created_at <= starts_at)
        .choose_multiple(rng, attendance / 3);
    rows.attendees.extend(registered.iter().map(|m| Attendee {
        session_id: session.id.clone(),
        migrant_id: m.id.clone(),
        added_by: facilitator.id.clone(),
        added_at: starts_at,
    }));
    tallies(rng, &session.id, attendance - registered.len(), rows);
    rows.session_topics
        .extend(topics(kind).iter().map(|topic| SessionTopic {
            session_id: session.id.clone(),
            topic: *topic,
        }));
    rows.facilitators.push(Facilitator {
        session_id: session.id.clone(),
        user_id: facilitator.id.clone(),
    });
    rows.sessions.push(session);
}

/// Who a tally row counts.
type Combination = (Sex, Option<AgeBand>, MigrationStatus);

/// `people` anonymous attendees spread over a few combinations of sex, age and status.
fn tallies(rng: &mut impl Rng, session_id: &str, people: usize, rows: &mut Rows) {
    let mut counts: Vec<(Combination, i32)> = Vec::new();
    for _ in 0..people {
        let key = (
            weighted(rng, &[(Sex::Male, 65), (Sex::Female, 35)]),
            weighted(
                rng,
                &[
                    (Some(AgeBand::Minor), 10),
                    (Some(AgeBand::From18To24), 35),
                    (Some(AgeBand::From25To34), 30),
                    (Some(AgeBand::From35To49), 15),
                    (None, 10),
                ],
            ),
            weighted(
                rng,
                &[
                    (MigrationStatus::Prospective, 65),
                    (MigrationStatus::Returnee, 25),
                    (MigrationStatus::FamilyMember, 10),
                ],
            ),
        );
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    rows.tallies.extend(
        counts
            .into_iter()
            .map(|((sex, age_band, status), count)| TallyRow {
                id: uuid::Uuid::now_v7().to_string(),
                session_id: session_id.to_owned(),
                sex,
                age_band,
                migration_status: status,
                count,
            }),
    );
}
