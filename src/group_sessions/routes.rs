use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{load_editable, load_visible, visible};
use super::attendance;
use super::model::*;
use super::queries::{
    check_facilitators, check_partner, id_set, response, responses, store_facilitators,
    store_tallies, store_topics, tally_set,
};
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::consultations::model::Topic;
use crate::consultations::queries::topic_set;
use crate::db::schema::{group_session_facilitators, group_sessions};
use crate::db::versioned::{Changes, Versioned};
use crate::db::{DbConnection, MultiBackend};
use crate::error::{ApiError, FieldError};
use crate::http::pagination::{decode_cursor, CursorTime};
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::state::AppState;
use crate::time::Timestamp;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_group_session)
        .service(list_group_sessions)
        .service(get_group_session)
        .service(update_group_session)
        .service(add_attendees)
        .service(list_attendees)
        .service(remove_attendee);
}

fn respond(status: StatusCode, session: GroupSessionResponse) -> HttpResponse {
    representation(status, "group-sessions", &session.id, session.version).json(session)
}

/// A session may be planned up to a year ahead and entered up to ten years late.
fn check_starts_at(v: &mut Validator, at: Timestamp) {
    let (at, now) = (at.utc(), Utc::now());
    if at > now + Duration::days(366) {
        v.fail("starts_at", "must be within the next year");
    } else if at < now - Duration::days(3653) {
        v.fail("starts_at", "must be within the last ten years");
    }
}

fn check_place(v: &mut Validator, kind: SessionKind, place: Option<&Place>) {
    match (kind, place) {
        (SessionKind::Online, Some(_)) => v.fail("place", "an online session has no place"),
        (SessionKind::Online, None) => {}
        (_, None) => v.fail("place", "required unless the session is online"),
        (_, Some(place)) => {
            v.text("place.city", &place.city, 1, 200);
            v.optional_text("place.district", place.district.as_deref(), 1, 200);
            v.optional_text("place.venue", place.venue.as_deref(), 1, 300);
        }
    }
}

/// The checks shared by create and update, on the fields given.
struct Details<'a> {
    title: Option<&'a str>,
    duration: Option<i32>,
    language: Option<&'a str>,
    topics: Option<&'a [Topic]>,
    facilitators: Option<&'a [String]>,
    notes: Option<&'a str>,
}

fn check_details(v: &mut Validator, d: Details<'_>) {
    v.optional_text("title", d.title, 1, 300);
    if d.duration.is_some_and(|m| !(1..=1440).contains(&m)) {
        v.fail("duration_minutes", "must be between 1 and 1440");
    }
    if let Some(language) = d.language {
        v.language("language", language);
    }
    if d.topics.is_some_and(<[Topic]>::is_empty) {
        v.fail("topics", "must name at least one topic");
    }
    if let Some(facilitators) = d.facilitators {
        if facilitators.is_empty() || facilitators.len() > MAX_FACILITATORS {
            v.fail(
                "facilitators",
                format!("must name 1 to {MAX_FACILITATORS} staff"),
            );
        }
    }
    v.optional_text("notes", d.notes, 0, 10_000);
}

/// 422 naming each tally row with a count out of range or repeating an earlier row's sex, age
/// band and migration status.
fn check_tallies(tallies: &[Tally]) -> Result<(), ApiError> {
    if tallies.len() > MAX_TALLY_ROWS {
        return Err(ApiError::unprocessable_field(
            "tallies",
            format!("at most {MAX_TALLY_ROWS} rows, one per sex, age band and migration status"),
        ));
    }
    let mut errors = Vec::new();
    for (i, tally) in tallies.iter().enumerate() {
        if !(0..=MAX_TALLY).contains(&tally.count) {
            errors.push(FieldError::new(
                format!("tallies[{i}].count"),
                format!("must be between 0 and {MAX_TALLY}"),
            ));
        }
        let same = |t: &&Tally| {
            (t.sex, t.age_band, t.migration_status)
                == (tally.sex, tally.age_band, tally.migration_status)
        };
        if tallies[..i].iter().any(|t| same(&t)) {
            errors.push(FieldError::new(
                format!("tallies[{i}]"),
                "repeats the sex, age band and migration status of an earlier row",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unprocessable_fields(errors))
    }
}

fn check_create(input: &CreateGroupSession) -> Result<(), ApiError> {
    let mut v = Validator::new();
    check_starts_at(&mut v, input.starts_at);
    check_place(&mut v, input.kind, input.place.as_ref());
    check_details(
        &mut v,
        Details {
            title: Some(&input.title),
            duration: Some(input.duration_minutes),
            language: Some(&input.language),
            topics: Some(&input.topics),
            facilitators: input.facilitators.as_deref(),
            notes: Some(&input.notes),
        },
    );
    v.finish()?;
    check_tallies(&input.tallies)
}

/// Record a group session of the caller's centre: an orientation, an awareness session or an
/// outreach event, with its anonymous tallies (registered attendees are added afterwards).
#[utoipa::path(
    tag = "group-sessions",
    request_body = CreateGroupSession,
    responses((status = 201, description = "Recorded", body = GroupSessionResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/group-sessions")]
async fn create_group_session(
    state: web::Data<AppState>,
    staff: CentreStaff,
    body: Json<CreateGroupSession>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    check_create(&input)?;
    let response = crate::db::records_transaction(&state.pool, move |conn| {
        let facilitators = input
            .facilitators
            .clone()
            .unwrap_or_else(|| vec![staff.id.clone()]);
        check_facilitators(conn, &staff, &facilitators)?;
        if let Some(partner) = &input.partner_provider_id {
            check_partner(conn, &staff, partner)?;
        }
        let (topics, tallies) = (input.topics.clone(), input.tallies.clone());
        let session = new_session(&staff, input);
        diesel::insert_into(group_sessions::table)
            .values(&session)
            .execute(conn)?;
        store_topics(conn, &session.id, &topics)?;
        store_facilitators(conn, &session.id, &facilitators)?;
        store_tallies(conn, &session.id, &tallies)?;
        Event::new("group_session.create", "group_session", Some(&session.id))
            .by(&staff)
            .centre(Some(&session.centre_id))
            .changed(vec![
                "kind",
                "title",
                "starts_at",
                "duration_minutes",
                "place",
                "language",
                "topics",
                "facilitators",
                "partner_provider_id",
                "notes",
                "tallies",
            ])
            .record(conn)?;
        response(conn, session)
    })
    .await?;
    Ok(respond(StatusCode::CREATED, response))
}

fn new_session(staff: &CentreStaff, input: CreateGroupSession) -> GroupSession {
    let now = crate::time::now();
    let place = input.place;
    GroupSession {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: staff.centre_id.clone(),
        created_by: staff.id.clone(),
        kind: input.kind,
        title: input.title.trim().to_owned(),
        starts_at: input.starts_at.naive_utc(),
        duration_minutes: input.duration_minutes,
        city: place.as_ref().map(|p| p.city.trim().to_owned()),
        district: place.as_ref().and_then(|p| p.district.clone()),
        venue: place.and_then(|p| p.venue),
        language: input.language,
        partner_provider_id: input.partner_provider_id,
        notes: input.notes,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The sessions the caller may see that match the list's filters.
fn matching(
    staff: &CentreStaff,
    query: &ListGroupSessions,
) -> group_sessions::BoxedQuery<'static, MultiBackend> {
    let mut q = group_sessions::table.filter(visible(staff)).into_boxed();
    if let Some(kind) = query.kind {
        q = q.filter(group_sessions::kind.eq(kind));
    }
    if let Some(from) = query.from {
        q = q.filter(group_sessions::starts_at.ge(from.naive_utc()));
    }
    if let Some(to) = query.to {
        q = q.filter(group_sessions::starts_at.lt(to.naive_utc()));
    }
    if let Some(facilitator) = &query.facilitator {
        q = q.filter(
            group_sessions::id.eq_any(
                group_session_facilitators::table
                    .filter(group_session_facilitators::user_id.eq(facilitator.clone()))
                    .select(group_session_facilitators::session_id),
            ),
        );
    }
    if let Some(since) = query.updated_since {
        q = q.filter(group_sessions::updated_at.ge(since.naive_utc()));
    }
    q
}

/// List the centre's group sessions, most recent first. Sessions show counts only, never who
/// attended (see `GET group-sessions/{id}/attendees`).
#[utoipa::path(
    tag = "group-sessions",
    params(ListGroupSessions),
    responses((status = 200, description = "A page of group sessions", body = Page<GroupSessionResponse>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/group-sessions")]
async fn list_group_sessions(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<ListGroupSessions>,
) -> Result<web::Json<Page<GroupSessionResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<(CursorTime, String)> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::db::run(&state.pool, move |conn| {
        let mut q = matching(&staff, &query);
        if let Some((CursorTime(at), id)) = after {
            q = q.filter(
                group_sessions::starts_at
                    .lt(at)
                    .or(group_sessions::starts_at
                        .eq(at)
                        .and(group_sessions::id.lt(id))),
            );
        }
        let rows = q
            .order((group_sessions::starts_at.desc(), group_sessions::id.desc()))
            .limit(limit.fetch())
            .load::<GroupSession>(conn)?;
        let page = Page::from_rows(rows, limit, |s| (s.starts_at, s.id.clone()));
        Ok(page.try_map_items(|items| responses(conn, items))?)
    })
    .await?;
    Ok(web::Json(page))
}

/// Read a group session (with its attendance counts).
#[utoipa::path(
    tag = "group-sessions",
    params(("id" = String, Path, description = "Group session id")),
    responses((status = 200, description = "The group session", body = GroupSessionResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/group-sessions/{id}")]
async fn get_group_session(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let response = crate::db::run(&state.pool, move |conn| {
        let session = load_visible(conn, &staff, &id)?;
        response(conn, session)
    })
    .await?;
    Ok(respond(StatusCode::OK, response))
}

fn validate_update(input: &UpdateGroupSession) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if let Some(at) = input.starts_at {
        check_starts_at(&mut v, at);
    }
    check_details(
        &mut v,
        Details {
            title: input.title.as_deref(),
            duration: input.duration_minutes,
            language: input.language.as_deref(),
            topics: input.topics.as_deref(),
            facilitators: input.facilitators.as_deref(),
            notes: input.notes.as_deref(),
        },
    );
    v.finish()?;
    check_tallies(input.tallies.as_deref().unwrap_or_default())
}

/// Correct a group session: its details, facilitators or tallies (its facilitators or a
/// supervisor; `If-Match` required).
#[utoipa::path(
    tag = "group-sessions",
    params(
        ("id" = String, Path, description = "Group session id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateGroupSession,
    responses((status = 200, description = "The updated group session", body = GroupSessionResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[patch("/group-sessions/{id}")]
async fn update_group_session(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateGroupSession>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    validate_update(&input)?;
    let response = crate::db::records_transaction(&state.pool, move |conn| {
        let mut s = load_editable(conn, &staff, &id)?;
        if_match.check(s.version)?;
        let changes = apply_update(conn, &staff, &mut s, &input)?;
        if !changes.is_empty() {
            s.save(conn)?;
            Event::new("group_session.update", "group_session", Some(&s.id))
                .by(&staff)
                .centre(Some(&s.centre_id))
                .changed(changes.fields())
                .record(conn)?;
        }
        store_sets(conn, &s.id, &changes, input)?;
        response(conn, s)
    })
    .await?;
    Ok(respond(StatusCode::OK, response))
}

/// Stores the sets a PATCH replaced, once the session is saved.
fn store_sets(
    conn: &mut DbConnection,
    id: &str,
    changes: &Changes,
    input: UpdateGroupSession,
) -> QueryResult<()> {
    if let (true, Some(topics)) = (changes.contains("topics"), input.topics) {
        store_topics(conn, id, &topics)?;
    }
    if let (true, Some(facilitators)) = (changes.contains("facilitators"), input.facilitators) {
        store_facilitators(conn, id, &facilitators)?;
    }
    if let (true, Some(tallies)) = (changes.contains("tallies"), input.tallies) {
        store_tallies(conn, id, &tallies)?;
    }
    Ok(())
}

/// Applies the PATCH to `s` (not yet saved), checking the references it names and that kind
/// and place still agree. New sets are compared with the stored ones.
fn apply_update(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    s: &mut GroupSession,
    input: &UpdateGroupSession,
) -> Result<Changes, ApiError> {
    let mut changes = Changes::new();
    changes.set("kind", &mut s.kind, input.kind);
    changes.set(
        "title",
        &mut s.title,
        input.title.as_ref().map(|t| t.trim().to_owned()),
    );
    changes.set(
        "starts_at",
        &mut s.starts_at,
        input.starts_at.map(|at| at.naive_utc()),
    );
    changes.set(
        "duration_minutes",
        &mut s.duration_minutes,
        input.duration_minutes,
    );
    changes.set("language", &mut s.language, input.language.clone());
    changes.set("notes", &mut s.notes, input.notes.clone());
    if let Some(partner) = &input.partner_provider_id {
        if let Some(id) = partner
            .as_deref()
            .filter(|p| Some(*p) != s.partner_provider_id.as_deref())
        {
            check_partner(conn, staff, id)?;
        }
        changes.set(
            "partner_provider_id",
            &mut s.partner_provider_id,
            Some(partner.clone()),
        );
    }
    apply_place(&mut changes, s, input.place.clone())?;
    let stored = response(conn, s.clone())?;
    if let Some(topics) = &input.topics {
        if topic_set(topics.clone()) != stored.topics {
            changes.mark("topics");
        }
    }
    if let Some(facilitators) = &input.facilitators {
        if id_set(facilitators.clone()) != stored.facilitators {
            check_facilitators(conn, staff, facilitators)?;
            changes.mark("facilitators");
        }
    }
    if let Some(tallies) = &input.tallies {
        if tally_set(tallies) != stored.tallies {
            changes.mark("tallies");
        }
    }
    Ok(changes)
}

/// Applies a new place (when given) and checks it agrees with the kind as it now stands.
fn apply_place(
    changes: &mut Changes,
    s: &mut GroupSession,
    place: Option<Option<Place>>,
) -> Result<(), ApiError> {
    if let Some(place) = place {
        let new = match place {
            Some(p) => (Some(p.city.trim().to_owned()), p.district, p.venue),
            None => (None, None, None),
        };
        if new != (s.city.clone(), s.district.clone(), s.venue.clone()) {
            (s.city, s.district, s.venue) = new;
            changes.mark("place");
        }
    }
    let current = s.city.clone().map(|city| Place {
        city,
        district: s.district.clone(),
        venue: s.venue.clone(),
    });
    let mut v = Validator::new();
    check_place(&mut v, s.kind, current.as_ref());
    v.finish()
}

fn check_attendee_ids(ids: &[String]) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if ids.is_empty() || ids.len() > MAX_ATTENDEES_PER_REQUEST {
        v.fail(
            "migrant_ids",
            format!("must name 1 to {MAX_ATTENDEES_PER_REQUEST} people"),
        );
    }
    v.finish()
}

/// Add registered people of the centre to the session (its facilitators or a supervisor).
/// People already on it stay once; a person not registered in your centre answers 422 naming
/// each such `migrant_ids[i]`, and nobody is added.
#[utoipa::path(
    tag = "group-sessions",
    params(("id" = String, Path, description = "Group session id")),
    request_body = AddAttendees,
    responses((status = 200, description = "The session with its new attendance", body = GroupSessionResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/group-sessions/{id}/attendees")]
async fn add_attendees(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<AddAttendees>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    check_attendee_ids(&input.migrant_ids)?;
    let response = crate::db::records_transaction(&state.pool, move |conn| {
        let mut session = load_editable(conn, &staff, &id)?;
        let added = attendance::add(conn, &staff, &session.id, &input.migrant_ids)?;
        if !added.is_empty() {
            session.save(conn)?;
        }
        Event::new(
            "group_session.add_attendees",
            "group_session",
            Some(&session.id),
        )
        .by(&staff)
        .centre(Some(&session.centre_id))
        .subjects(added.iter().map(String::as_str))
        .changed(vec!["attendees"])
        .record(conn)?;
        response(conn, session)
    })
    .await?;
    Ok(respond(StatusCode::OK, response))
}

/// Remove a registered attendee (its facilitators or a supervisor).
#[utoipa::path(
    tag = "group-sessions",
    params(
        ("id" = String, Path, description = "Group session id"),
        ("migrant_id" = String, Path, description = "The attendee's migrant id"),
    ),
    responses((status = 200, description = "The session with its new attendance", body = GroupSessionResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[delete("/group-sessions/{id}/attendees/{migrant_id}")]
async fn remove_attendee(
    state: web::Data<AppState>,
    staff: CentreStaff,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, migrant_id) = path.into_inner();
    let response = crate::db::records_transaction(&state.pool, move |conn| {
        let mut session = load_editable(conn, &staff, &id)?;
        attendance::remove(conn, &session.id, &migrant_id)?;
        session.save(conn)?;
        Event::new(
            "group_session.remove_attendee",
            "group_session",
            Some(&session.id),
        )
        .by(&staff)
        .centre(Some(&session.centre_id))
        .subject(Some(&migrant_id))
        .changed(vec!["attendees"])
        .record(conn)?;
        response(conn, session)
    })
    .await?;
    Ok(respond(StatusCode::OK, response))
}

/// The session's registered attendees (their identifying summary, as search shows it), in id
/// order. Audited, naming everyone on the page.
#[utoipa::path(
    tag = "group-sessions",
    params(("id" = String, Path, description = "Group session id"), ListAttendees),
    responses((status = 200, description = "A page of attendees", body = Page<AttendeeResponse>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/group-sessions/{id}/attendees")]
async fn list_attendees(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    query: Query<ListAttendees>,
) -> Result<web::Json<Page<AttendeeResponse>>, ApiError> {
    let id = id.into_inner();
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let session = load_visible(conn, &staff, &id)?;
        let rows = attendance::roster(conn, &session.id, after.as_deref(), limit.fetch())?;
        let page = Page::from_rows(rows, limit, |row| row.0.clone());
        if !page.items.is_empty() {
            Event::new(
                "group_session.read_attendees",
                "group_session",
                Some(&session.id),
            )
            .by(&staff)
            .centre(Some(&session.centre_id))
            .subjects(page.items.iter().map(|row| row.0.as_str()))
            .defer(seen);
        }
        Ok(page.map(AttendeeResponse::from))
    })
    .await?;
    Ok(web::Json(page))
}
