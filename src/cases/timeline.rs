//! `GET /cases/{id}/timeline`: everything that happened on a case, in one chronological list —
//! case events (opened, assigned, closed, reopened), consultations, referral moves and
//! follow-ups (at their due time). Keyset-paginated over (time, id): each source reads at most
//! one page after the cursor, so a page costs a fixed number of queries.

use actix_web::{get, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::load_visible;
use super::model::CaseEventKind;
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::consultations::model::{Consultation, ConsultationResponse};
use crate::db::schema::{case_events, consultations, follow_ups, referral_transitions, referrals};
use crate::error::ApiError;
use crate::follow_ups::model::{FollowUpKind, FollowUpStatus};
use crate::http::pagination::{decode_cursor, CursorTime};
use crate::http::{Page, PageLimit, Query};
use crate::referrals::model::ReferralStatus;
use crate::state::AppState;

crate::text_enum!(
    TimelineKind {
        CaseEvent => "case_event",
        Consultation => "consultation",
        ReferralMove => "referral_move",
        FollowUp => "follow_up",
    }
);

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseEventItem {
    /// `opened`, `assigned`, `closed` or `reopened`.
    pub kind: String,
    pub assigned_to: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReferralMove {
    pub referral_id: String,
    pub provider_id: String,
    /// `null` when the referral was created.
    pub from: Option<String>,
    pub to: String,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FollowUpItem {
    pub kind: String,
    pub status: String,
    pub assigned_to: String,
    pub note: Option<String>,
    pub outcome: Option<String>,
}

/// One thing that happened on a case. Exactly one of the detail fields is set, named by `kind`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    /// Id of the event, consultation, referral transition or follow-up.
    pub id: String,
    pub actor_id: Option<String>,
    pub case_event: Option<CaseEventItem>,
    pub consultation: Option<ConsultationResponse>,
    pub referral_move: Option<ReferralMove>,
    pub follow_up: Option<FollowUpItem>,
}

impl TimelineEntry {
    fn new(at: NaiveDateTime, kind: TimelineKind, id: String, actor_id: Option<String>) -> Self {
        Self {
            at: crate::time::utc(at),
            kind,
            id,
            actor_id,
            case_event: None,
            consultation: None,
            referral_move: None,
            follow_up: None,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Queryable)]
struct CaseEventRow {
    id: String,
    at: NaiveDateTime,
    actor_id: String,
    kind: CaseEventKind,
    assigned_to: Option<String>,
    note: Option<String>,
}

#[derive(Queryable)]
struct ReferralMoveRow {
    id: String,
    at: NaiveDateTime,
    actor_id: String,
    from: Option<ReferralStatus>,
    to: ReferralStatus,
    note: Option<String>,
    referral_id: String,
    provider_id: String,
}

#[derive(Queryable)]
struct FollowUpRow {
    id: String,
    due_at: NaiveDateTime,
    created_by: String,
    kind: FollowUpKind,
    status: FollowUpStatus,
    assigned_to: String,
    note: Option<String>,
    outcome: Option<String>,
}

/// The case's history, oldest first.
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id"), TimelineQuery),
    responses((status = 200, description = "A page of the timeline", body = Page<TimelineEntry>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/cases/{id}/timeline")]
pub async fn case_timeline(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    query: Query<TimelineQuery>,
) -> Result<web::Json<Page<TimelineEntry>>, ApiError> {
    let id = id.into_inner();
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<(CursorTime, String)> = decode_cursor(query.cursor.as_deref())?;
    // The first page starts before every entry a client could have written.
    let (CursorTime(at0), id0) =
        after.unwrap_or((CursorTime(crate::time::earliest()), String::new()));
    let page = crate::db::transaction(&state.pool, move |conn| {
        let case = load_visible(conn, &staff, &id)?;
        let fetch = limit.fetch();
        let mut entries: Vec<TimelineEntry> = Vec::new();

        let events: Vec<CaseEventRow> = case_events::table
            .filter(case_events::case_id.eq(&case.id))
            .filter(
                case_events::at
                    .gt(at0)
                    .or(case_events::at.eq(at0).and(case_events::id.gt(&id0))),
            )
            .order((case_events::at.asc(), case_events::id.asc()))
            .limit(fetch)
            .select((
                case_events::id,
                case_events::at,
                case_events::actor_id,
                case_events::kind,
                case_events::assigned_to,
                case_events::note,
            ))
            .load(conn)?;
        entries.extend(events.into_iter().map(|e| {
            let mut entry =
                TimelineEntry::new(e.at, TimelineKind::CaseEvent, e.id, Some(e.actor_id));
            entry.case_event = Some(CaseEventItem {
                kind: e.kind.as_str().to_owned(),
                assigned_to: e.assigned_to,
                note: e.note,
            });
            entry
        }));

        let consults: Vec<Consultation> = consultations::table
            .filter(consultations::case_id.eq(&case.id))
            .filter(
                consultations::occurred_at
                    .gt(at0)
                    .or(consultations::occurred_at
                        .eq(at0)
                        .and(consultations::id.gt(&id0))),
            )
            .order((consultations::occurred_at.asc(), consultations::id.asc()))
            .limit(fetch)
            .load(conn)?;
        for consultation in crate::consultations::queries::responses(conn, consults)? {
            let mut entry = TimelineEntry::new(
                consultation.occurred_at.naive_utc(),
                TimelineKind::Consultation,
                consultation.id.clone(),
                Some(consultation.counsellor_id.clone()),
            );
            entry.consultation = Some(consultation);
            entries.push(entry);
        }

        let moves: Vec<ReferralMoveRow> = referral_transitions::table
            .inner_join(referrals::table)
            .filter(referrals::case_id.eq(&case.id))
            .filter(
                referral_transitions::at.gt(at0).or(referral_transitions::at
                    .eq(at0)
                    .and(referral_transitions::id.gt(&id0))),
            )
            .order((
                referral_transitions::at.asc(),
                referral_transitions::id.asc(),
            ))
            .limit(fetch)
            .select((
                referral_transitions::id,
                referral_transitions::at,
                referral_transitions::actor_id,
                referral_transitions::from_status,
                referral_transitions::to_status,
                referral_transitions::note,
                referrals::id,
                referrals::provider_id,
            ))
            .load(conn)?;
        entries.extend(moves.into_iter().map(|m| {
            let mut entry =
                TimelineEntry::new(m.at, TimelineKind::ReferralMove, m.id, Some(m.actor_id));
            entry.referral_move = Some(ReferralMove {
                referral_id: m.referral_id,
                provider_id: m.provider_id,
                from: m.from.map(|s| s.as_str().to_owned()),
                to: m.to.as_str().to_owned(),
                note: m.note,
            });
            entry
        }));

        let follow: Vec<FollowUpRow> = follow_ups::table
            .filter(follow_ups::case_id.eq(&case.id))
            .filter(
                follow_ups::due_at
                    .gt(at0)
                    .or(follow_ups::due_at.eq(at0).and(follow_ups::id.gt(&id0))),
            )
            .order((follow_ups::due_at.asc(), follow_ups::id.asc()))
            .limit(fetch)
            .select((
                follow_ups::id,
                follow_ups::due_at,
                follow_ups::created_by,
                follow_ups::kind,
                follow_ups::status,
                follow_ups::assigned_to,
                follow_ups::note,
                follow_ups::outcome,
            ))
            .load(conn)?;
        entries.extend(follow.into_iter().map(|f| {
            let mut entry =
                TimelineEntry::new(f.due_at, TimelineKind::FollowUp, f.id, Some(f.created_by));
            entry.follow_up = Some(FollowUpItem {
                kind: f.kind.as_str().to_owned(),
                status: f.status.as_str().to_owned(),
                assigned_to: f.assigned_to,
                note: f.note,
                outcome: f.outcome,
            });
            entry
        }));

        entries.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        entries.truncate(usize::try_from(fetch).unwrap_or(usize::MAX));
        Event::new("case.read_timeline", "case", Some(&case.id))
            .by(&staff)
            .centre(Some(&case.centre_id))
            .subject(Some(&case.migrant_id))
            .record(conn)?;
        Ok(Page::from_rows(entries, limit, |e| {
            (e.at.naive_utc(), e.id.clone())
        }))
    })
    .await?;
    Ok(web::Json(page))
}
