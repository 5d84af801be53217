//! Demo cases with their referrals and follow-ups: some still open, most referrals answered in
//! days, some declined or never answered, follow-ups mostly on time.

use std::ops::Range;

use chrono::{Duration, NaiveDateTime};
use rand::seq::IndexedRandom;
use rand::Rng;

use super::bulk::{CaseEvent, Rows, Transition};
use super::people::weighted;
use super::staff::Desk;
use crate::cases::model::{Case, CaseEventKind, CaseStatus, Priority};
use crate::follow_ups::model::{FollowUp, FollowUpKind, FollowUpStatus};
use crate::migrants::model::{ConsentScope, Migrant, MigrantResponse};
use crate::referrals::model::{Referral, ReferralStatus, Urgency};

const PRIORITIES: &[(Priority, u32)] = &[
    (Priority::Low, 15),
    (Priority::Normal, 55),
    (Priority::High, 22),
    (Priority::Urgent, 8),
];
const SUMMARIES: &[&str] = &[
    "Unpaid wages abroad",
    "Entry ban to the Russian Federation",
    "Lost passport and work permit",
    "Reintegration after return: work and training",
    "Family left without remittances",
];
const REASONS: &[&str] = &[
    "Needs legal advice on recovering unpaid wages.",
    "Needs medical examination before departure.",
    "No place to stay after return.",
    "Looking for a job through the employment service.",
];

fn event(case: &Case, at: NaiveDateTime, kind: CaseEventKind, note: Option<&str>) -> CaseEvent {
    CaseEvent {
        id: uuid::Uuid::now_v7().to_string(),
        case_id: case.id.clone(),
        at,
        actor_id: case.assigned_to.clone(),
        kind,
        assigned_to: (kind == CaseEventKind::Opened).then(|| case.assigned_to.clone()),
        note: note.map(str::to_owned),
    }
}

/// A case opened when the person registered, assigned to their counsellor; more than half are
/// closed after weeks or months.
pub fn case(rng: &mut impl Rng, migrant: &Migrant, now: NaiveDateTime, rows: &mut Rows) -> Case {
    let opened = migrant.created_at;
    let closed = Some(opened + Duration::days(rng.random_range(10..240)))
        .filter(|at| *at < now && rng.random_bool(0.55));
    let case = Case {
        id: uuid::Uuid::now_v7().to_string(),
        migrant_id: migrant.id.clone(),
        centre_id: migrant.centre_id.clone(),
        assigned_to: migrant.registered_by.clone(),
        opened_by: migrant.registered_by.clone(),
        status: if closed.is_some() {
            CaseStatus::Closed
        } else {
            CaseStatus::Open
        },
        priority: weighted(rng, PRIORITIES),
        summary: SUMMARIES.choose(rng).copied().unwrap_or_default().into(),
        opened_at: opened,
        closed_at: closed,
        closure_reason: closed.map(|_| "Resolved".into()),
        version: 1,
        created_at: opened,
        updated_at: closed.unwrap_or(opened),
    };
    rows.case_events
        .push(event(&case, opened, CaseEventKind::Opened, None));
    if let Some(at) = closed {
        rows.case_events
            .push(event(&case, at, CaseEventKind::Closed, Some("Resolved")));
    }
    case
}

/// A moment some days and hours after `at`, if it is not in the future.
fn later(
    rng: &mut impl Rng,
    at: NaiveDateTime,
    days: Range<i64>,
    now: NaiveDateTime,
) -> Option<NaiveDateTime> {
    let next =
        at + Duration::days(rng.random_range(days)) + Duration::hours(rng.random_range(1..8));
    (next < now).then_some(next)
}

/// The referral's path after it is made: sent (nine in ten), then accepted, declined or left
/// unanswered, and most accepted ones completed; no step lies in the future.
fn path(
    rng: &mut impl Rng,
    created: NaiveDateTime,
    now: NaiveDateTime,
) -> Vec<(ReferralStatus, NaiveDateTime)> {
    let mut steps = vec![(ReferralStatus::Pending, created)];
    if !rng.random_bool(0.9) {
        return steps;
    }
    let Some(sent) = later(rng, created, 0..2, now) else {
        return steps;
    };
    steps.push((ReferralStatus::Sent, sent));
    let answer = weighted(
        rng,
        &[
            (Some(ReferralStatus::Accepted), 65),
            (Some(ReferralStatus::Declined), 15),
            (None, 20),
        ],
    );
    let Some((status, answered)) = answer.zip(later(rng, sent, 1..21, now)) else {
        return steps;
    };
    steps.push((status, answered));
    if status == ReferralStatus::Accepted && rng.random_bool(0.75) {
        steps.extend(later(rng, answered, 5..45, now).map(|at| (ReferralStatus::Completed, at)));
    }
    steps
}

/// A referral of the case to one of the centre's providers, if the person consented to sharing
/// (six in ten such cases), with each status change as a transition.
pub fn referral(
    rng: &mut impl Rng,
    desk: &Desk,
    migrant: &Migrant,
    case: &Case,
    now: NaiveDateTime,
    rows: &mut Rows,
) {
    let Some(consent_at) = migrant.consent(ConsentScope::ReferralSharing).0 else {
        return;
    };
    let (Some(provider), true) = (desk.providers.choose(rng), rng.random_bool(0.6)) else {
        return;
    };
    let created = case.opened_at + Duration::hours(rng.random_range(1..72));
    if created >= now {
        return;
    }
    let steps = path(rng, created, now);
    let (status, last) = steps[steps.len() - 1];
    let consent = MigrantResponse::new(migrant.clone(), Vec::new()).consent;
    let referral = Referral {
        id: uuid::Uuid::now_v7().to_string(),
        case_id: case.id.clone(),
        centre_id: case.centre_id.clone(),
        migrant_id: migrant.id.clone(),
        provider_id: provider.id.clone(),
        created_by: case.assigned_to.clone(),
        reason: REASONS.choose(rng).copied().unwrap_or_default().into(),
        urgency: weighted(
            rng,
            &[
                (Urgency::Low, 10),
                (Urgency::Normal, 60),
                (Urgency::High, 22),
                (Urgency::Urgent, 8),
            ],
        ),
        status,
        expected_response_by: Some((created + Duration::days(14)).date()),
        consent_given_at: consent_at,
        consent_snapshot: serde_json::to_string(&consent).unwrap_or_default(),
        outcome: (status == ReferralStatus::Completed).then(|| "Service provided".into()),
        version: steps.len() as i32,
        created_at: created,
        updated_at: last,
    };
    transitions(&referral, &steps, rows);
    rows.referrals.push(referral);
}

/// Each step of the referral's path as a transition from the one before.
fn transitions(referral: &Referral, steps: &[(ReferralStatus, NaiveDateTime)], rows: &mut Rows) {
    let mut from = None;
    for (to, at) in steps {
        rows.transitions.push(Transition {
            id: uuid::Uuid::now_v7().to_string(),
            referral_id: referral.id.clone(),
            from_status: from,
            to_status: *to,
            at: *at,
            actor_id: referral.created_by.clone(),
            note: None,
        });
        from = Some(*to);
    }
}

/// How a follow-up due at `due` stands today: still scheduled if not yet due (or overdue, one in
/// twenty), else done on time, done late, missed or cancelled.
fn outcome(
    rng: &mut impl Rng,
    due: NaiveDateTime,
    now: NaiveDateTime,
) -> (FollowUpStatus, Option<NaiveDateTime>) {
    if due >= now {
        return (FollowUpStatus::Scheduled, None);
    }
    let closed = |at: NaiveDateTime| Some(at.min(now));
    match rng.random_range(0..100) {
        0..=69 => (
            FollowUpStatus::Done,
            closed(due - Duration::hours(rng.random_range(0..48))),
        ),
        70..=81 => (
            FollowUpStatus::Done,
            closed(due + Duration::days(rng.random_range(1..10))),
        ),
        82..=91 => (FollowUpStatus::Missed, closed(due + Duration::days(3))),
        92..=94 => (FollowUpStatus::Cancelled, closed(due)),
        _ => (FollowUpStatus::Scheduled, None),
    }
}

/// One or two follow-ups of the case, due one to four weeks after it opened.
pub fn follow_ups(rng: &mut impl Rng, case: &Case, now: NaiveDateTime, rows: &mut Rows) {
    for _ in 0..rng.random_range(1..=2) {
        let due = case.opened_at + Duration::days(rng.random_range(7..30));
        let (status, closed_at) = outcome(rng, due, now);
        rows.follow_ups.push(FollowUp {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: case.id.clone(),
            centre_id: case.centre_id.clone(),
            assigned_to: case.assigned_to.clone(),
            created_by: case.assigned_to.clone(),
            due_at: due,
            kind: weighted(
                rng,
                &[
                    (FollowUpKind::Call, 55),
                    (FollowUpKind::Visit, 20),
                    (FollowUpKind::ReferralCheck, 20),
                    (FollowUpKind::Other, 5),
                ],
            ),
            note: None,
            status,
            outcome: (status == FollowUpStatus::Done).then(|| "Spoke with the person".into()),
            closed_at,
            version: 1,
            created_at: case.opened_at,
            updated_at: closed_at.unwrap_or(case.opened_at),
        });
    }
}
