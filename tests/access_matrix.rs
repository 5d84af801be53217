//! DESIGN.md "Roles and scope", endpoint by endpoint: what the assigned counsellor, another
//! counsellor of the same centre, the centre's supervisor, a supervisor of another centre and an
//! admin get. A role that may never take the action → 403 (the guard, whatever the object); out
//! of scope → 404; a forbidden action on a visible object → 403; admins never
//! reach personal data (403).

mod common;

use common::{expect, id};

use common::world::{
    all_ids, anonymous, attend, create_session, for_migrant, log, migrant_body, on_case, open_case,
    register, session_body, sorted, World,
};
use common::TestApp;
use diesel::prelude::*;
use karvon::db::schema::{cases, consultations, group_sessions, migrants};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
enum Actor {
    AssignedCounsellor,
    Colleague,
    Supervisor,
    OtherCentreSupervisor,
    Admin,
}

const ACTORS: [Actor; 5] = [
    Actor::AssignedCounsellor,
    Actor::Colleague,
    Actor::Supervisor,
    Actor::OtherCentreSupervisor,
    Actor::Admin,
];

/// One endpoint and the status each actor gets, in the order of [`ACTORS`].
///
/// Placeholders in the path and body: `{migrant}`, `{case}`, `{consultation}` (the world's,
/// owned by the assigned counsellor), `{supervisor_id}`, and, made afresh for every actor so
/// that one actor's write cannot change what the next one gets: `{fresh_migrant}` (registered
/// by the supervisor), `{fresh_case}` (an open case of `{migrant}` assigned to the assigned
/// counsellor), `{closed_case}` (the same, closed), `{fresh_session}` (a group session the
/// assigned counsellor facilitates) and `{attended_session}` (the same, `{migrant}` attending).
struct Row {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    expect: [u16; 5],
}

fn row(method: Method, path: &'static str, body: Option<Value>, expect: [u16; 5]) -> Row {
    Row {
        method,
        path,
        body,
        expect,
    }
}

fn matrix() -> Vec<Row> {
    use Method as M;
    let note = |text: &str| json!({ "reason": text });
    vec![
        // Migrants.
        row(
            M::POST,
            "/api/v1/migrants",
            Some(migrant_body("Farhod", "Rahimov")),
            [201, 201, 201, 201, 403],
        ),
        row(M::GET, "/api/v1/migrants", None, [200, 200, 200, 200, 403]),
        row(
            M::GET,
            "/api/v1/migrants?q=gulru",
            None,
            [200, 200, 200, 200, 403],
        ),
        row(
            M::GET,
            "/api/v1/migrants/duplicates?given_name=Gulru&family_name=Jabborzoda&birth_year=1994",
            None,
            [200, 200, 200, 200, 403],
        ),
        row(
            M::GET,
            "/api/v1/migrants/{migrant}",
            None,
            [200, 403, 200, 404, 403],
        ),
        row(
            M::PATCH,
            "/api/v1/migrants/{migrant}",
            Some(json!({"region_of_origin": "Khatlon"})),
            [200, 403, 200, 404, 403],
        ),
        row(
            M::GET,
            "/api/v1/migrants/{migrant}/access-log",
            None,
            [403, 403, 200, 404, 403],
        ),
        // Cases.
        row(
            M::POST,
            "/api/v1/cases",
            Some(json!({"migrant_id": "{fresh_migrant}", "summary": "Lost passport"})),
            [201, 201, 201, 422, 403],
        ),
        row(M::GET, "/api/v1/cases", None, [200, 200, 200, 200, 403]),
        row(
            M::GET,
            "/api/v1/cases/{case}",
            None,
            [200, 404, 200, 404, 403],
        ),
        row(
            M::PATCH,
            "/api/v1/cases/{case}",
            Some(json!({"priority": "high"})),
            [200, 404, 200, 404, 403],
        ),
        row(
            M::PATCH,
            "/api/v1/cases/{closed_case}",
            Some(json!({"priority": "high"})),
            [409, 404, 409, 404, 403],
        ),
        row(
            M::POST,
            "/api/v1/cases/{fresh_case}/assign",
            Some(json!({"assigned_to": "{supervisor_id}", "reason": "holiday cover"})),
            [403, 403, 200, 404, 403],
        ),
        row(
            M::POST,
            "/api/v1/cases/{fresh_case}/close",
            Some(note("resolved")),
            [200, 404, 200, 404, 403],
        ),
        row(
            M::POST,
            "/api/v1/cases/{closed_case}/reopen",
            Some(note("new facts")),
            [403, 403, 200, 404, 403],
        ),
        row(
            M::GET,
            "/api/v1/cases/{case}/timeline",
            None,
            [200, 404, 200, 404, 403],
        ),
        // Group sessions: the centre's to read; its facilitators' (the assigned counsellor's
        // here) and the supervisor's to change; admins get aggregates only.
        row(
            M::POST,
            "/api/v1/group-sessions",
            Some(session_body()),
            [201, 201, 201, 201, 403],
        ),
        row(
            M::GET,
            "/api/v1/group-sessions",
            None,
            [200, 200, 200, 200, 403],
        ),
        row(
            M::GET,
            "/api/v1/group-sessions/{fresh_session}",
            None,
            [200, 200, 200, 404, 403],
        ),
        row(
            M::PATCH,
            "/api/v1/group-sessions/{fresh_session}",
            Some(json!({"title": "Working legally in Kazakhstan"})),
            [200, 403, 200, 404, 403],
        ),
        row(
            M::POST,
            "/api/v1/group-sessions/{fresh_session}/attendees",
            Some(json!({"migrant_ids": ["{migrant}"]})),
            [200, 403, 200, 404, 403],
        ),
        row(
            M::GET,
            "/api/v1/group-sessions/{attended_session}/attendees",
            None,
            [200, 200, 200, 404, 403],
        ),
        row(
            M::DELETE,
            "/api/v1/group-sessions/{attended_session}/attendees/{migrant}",
            None,
            [200, 403, 200, 404, 403],
        ),
        // Consultations.
        row(
            M::POST,
            "/api/v1/consultations",
            Some(anonymous()),
            [201, 201, 201, 201, 403],
        ),
        row(
            M::POST,
            "/api/v1/consultations",
            Some(for_migrant("{fresh_migrant}")),
            [201, 201, 201, 422, 403],
        ),
        row(
            M::POST,
            "/api/v1/consultations",
            Some(on_case("{fresh_case}")),
            [201, 403, 201, 422, 403],
        ),
        row(
            M::POST,
            "/api/v1/consultations",
            Some(on_case("{closed_case}")),
            [409, 403, 409, 422, 403],
        ),
        row(
            M::GET,
            "/api/v1/consultations",
            None,
            [200, 200, 200, 200, 403],
        ),
        row(
            M::GET,
            "/api/v1/consultations/{consultation}",
            None,
            [200, 404, 200, 404, 403],
        ),
        row(
            M::PATCH,
            "/api/v1/consultations/{consultation}",
            Some(json!({"outcome": "Will bring the contract next week"})),
            [200, 404, 200, 404, 403],
        ),
    ]
}

fn token<'a>(app: &'a TestApp, world: &'a World, actor: Actor) -> &'a str {
    match actor {
        Actor::AssignedCounsellor => &world.counsellor.token,
        Actor::Colleague => &world.colleague.token,
        Actor::Supervisor => &world.supervisor.token,
        Actor::OtherCentreSupervisor => &world.other_supervisor.token,
        Actor::Admin => &app.admin,
    }
}

/// Fills the placeholders of a path or serialized body, creating fresh objects it names.
async fn fill(app: &TestApp, world: &World, text: &str) -> String {
    let mut text = text
        .replace("{migrant}", &world.migrant)
        .replace("{case}", &world.case)
        .replace("{consultation}", &world.consultation)
        .replace("{supervisor_id}", &world.supervisor.id);
    let supervisor = &world.supervisor.token;
    if text.contains("{fresh_migrant}") {
        let migrant = register(app, supervisor, migrant_body("Zarina", "Karimova")).await;
        text = text.replace("{fresh_migrant}", &id(&migrant));
    }
    if text.contains("{fresh_case}") {
        let case = open_case(
            app,
            supervisor,
            &world.migrant,
            "normal",
            Some(&world.counsellor.id),
        )
        .await;
        text = text.replace("{fresh_case}", &id(&case));
    }
    let counsellor = &world.counsellor.token;
    if text.contains("{fresh_session}") {
        let session = create_session(app, counsellor, session_body()).await;
        text = text.replace("{fresh_session}", &id(&session));
    }
    if text.contains("{attended_session}") {
        let session = id(&create_session(app, counsellor, session_body()).await);
        attend(app, counsellor, &session, &[&world.migrant]).await;
        text = text.replace("{attended_session}", &session);
    }
    if text.contains("{closed_case}") {
        let case = open_case(
            app,
            supervisor,
            &world.migrant,
            "normal",
            Some(&world.counsellor.id),
        )
        .await;
        common::world::close_case(app, supervisor, &id(&case)).await;
        text = text.replace("{closed_case}", &id(&case));
    }
    text
}

/// The current ETag of the object a PATCH path names, read from the database (no audit noise).
fn current_etag(app: &TestApp, path: &str) -> String {
    let mut conn = app.db();
    let object = path.rsplit('/').next().unwrap().to_owned();
    let version: Option<i32> = if path.starts_with("/api/v1/migrants/") {
        migrants::table
            .filter(migrants::id.eq(object))
            .select(migrants::version)
            .first(&mut conn)
            .optional()
            .unwrap()
    } else if path.starts_with("/api/v1/cases/") {
        cases::table
            .filter(cases::id.eq(object))
            .select(cases::version)
            .first(&mut conn)
            .optional()
            .unwrap()
    } else if path.starts_with("/api/v1/group-sessions/") {
        group_sessions::table
            .filter(group_sessions::id.eq(object))
            .select(group_sessions::version)
            .first(&mut conn)
            .optional()
            .unwrap()
    } else {
        consultations::table
            .filter(consultations::id.eq(object))
            .select(consultations::version)
            .first(&mut conn)
            .optional()
            .unwrap()
    };
    format!("\"{}\"", version.expect("patched object exists"))
}

backend_test!(every_endpoint_answers_each_role_as_design_prescribes);
async fn every_endpoint_answers_each_role_as_design_prescribes(app: TestApp) {
    let world = World::build(&app).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in matrix() {
        for (actor, expected) in ACTORS.iter().zip(row.expect) {
            let path = fill(&app, &world, row.path).await;
            let body = match &row.body {
                Some(body) => {
                    let text = fill(&app, &world, &body.to_string()).await;
                    Some(serde_json::from_str::<Value>(&text).unwrap())
                }
                None => None,
            };
            let mut request = app
                .client
                .request(row.method.clone(), app.url(&path))
                .bearer_auth(token(&app, &world, *actor));
            if row.method == Method::PATCH {
                request = request.header("If-Match", current_etag(&app, &path));
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let refused = expected >= 400;
            let before = refused.then(|| app.snapshot_with_audit());
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            checked += 1;
            if status != expected {
                let text = response.text().await.unwrap_or_default();
                failures.push(format!(
                    "{actor:?} {} {}: expected {expected}, got {status}: {text}",
                    row.method, row.path
                ));
            } else if before.is_some_and(|before| before != app.snapshot_with_audit()) {
                failures.push(format!(
                    "{actor:?} {} {}: refused with {status} but stored something",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(checked >= 100, "the matrix ran only {checked} requests");
    assert!(
        failures.is_empty(),
        "[{:?}] {} of {checked} access checks failed:\n{}",
        app.backend,
        failures.len(),
        failures.join("\n")
    );
}

/// Everything in both centres, beyond the world: a migrant only the supervisor registered with a
/// case assigned to the colleague, consultations by each person, and a whole other centre.
struct Scope {
    world: World,
    walk_in: String,
    colleague_case: String,
    colleague_anonymous: String,
    supervisor_on_case: String,
    supervisor_for_walk_in: String,
    other_migrant: String,
    other_case: String,
    other_consultation: String,
}

async fn scope(app: &TestApp) -> Scope {
    let world = World::build(app).await;
    let supervisor = &world.supervisor.token;
    let walk_in = id(&register(app, supervisor, migrant_body("Zarina", "Karimova")).await);
    let colleague_case = id(&open_case(
        app,
        supervisor,
        &walk_in,
        "normal",
        Some(&world.colleague.id),
    )
    .await);
    let colleague_anonymous = id(&log(app, &world.colleague.token, anonymous()).await);
    let supervisor_on_case = id(&log(app, supervisor, on_case(&world.case)).await);
    let supervisor_for_walk_in = id(&log(app, supervisor, for_migrant(&walk_in)).await);
    let other = &world.other_supervisor.token;
    let other_migrant = id(&register(app, other, migrant_body("Gulru", "Jabborzoda")).await);
    let other_case = id(&open_case(app, other, &other_migrant, "normal", None).await);
    let other_consultation = id(&log(app, other, on_case(&other_case)).await);
    Scope {
        world,
        walk_in,
        colleague_case,
        colleague_anonymous,
        supervisor_on_case,
        supervisor_for_walk_in,
        other_migrant,
        other_case,
        other_consultation,
    }
}

fn ids(items: &[&String]) -> Vec<String> {
    sorted(items.iter().map(|s| (*s).clone()).collect())
}

backend_test!(migrant_search_lists_exactly_the_callers_centre);
async fn migrant_search_lists_exactly_the_callers_centre(app: TestApp) {
    let s = scope(&app).await;
    let w = &s.world;
    let centre = ids(&[&w.migrant, &s.walk_in]);
    for (who, account) in [
        ("counsellor", &w.counsellor),
        ("colleague", &w.colleague),
        ("supervisor", &w.supervisor),
    ] {
        let listed = sorted(all_ids(&app, &account.token, "/api/v1/migrants", 1).await);
        assert_eq!(listed, centre, "{who} searches their centre");
    }
    let listed = sorted(all_ids(&app, &w.other_supervisor.token, "/api/v1/migrants", 1).await);
    assert_eq!(
        listed,
        ids(&[&s.other_migrant]),
        "other centre's supervisor"
    );
    let admin = app.get("/api/v1/migrants", &app.admin).await;
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
}

backend_test!(migrant_search_shows_summaries_with_a_masked_phone_to_everyone);
async fn migrant_search_shows_summaries_with_a_masked_phone_to_everyone(app: TestApp) {
    let s = scope(&app).await;
    for account in [&s.world.counsellor, &s.world.supervisor] {
        let page = expect(
            app.get("/api/v1/migrants", &account.token).await,
            StatusCode::OK,
            "search",
        )
        .await;
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("phone").is_none(), "no full phone in {item}");
            assert!(
                item.get("date_of_birth").is_none(),
                "no birth date in {item}"
            );
            assert_eq!(item["phone_masked"], "+992*******67");
        }
    }
}

backend_test!(duplicate_search_stays_within_the_callers_centre);
async fn duplicate_search_stays_within_the_callers_centre(app: TestApp) {
    let s = scope(&app).await;
    let path = "/api/v1/migrants/duplicates?given_name=Gulru&family_name=Jabborzoda";
    let found = |body: Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["migrant"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let colleague = expect(
        app.get(path, &s.world.colleague.token).await,
        StatusCode::OK,
        "dup",
    )
    .await;
    assert_eq!(found(colleague), vec![s.world.migrant.clone()]);
    let other = expect(
        app.get(path, &s.world.other_supervisor.token).await,
        StatusCode::OK,
        "dup",
    )
    .await;
    assert_eq!(found(other), vec![s.other_migrant.clone()]);
}

backend_test!(case_list_holds_exactly_the_callers_cases);
async fn case_list_holds_exactly_the_callers_cases(app: TestApp) {
    let s = scope(&app).await;
    let w = &s.world;
    let cases = |token: String| {
        let app = &app;
        async move { sorted(all_ids(app, &token, "/api/v1/cases", 1).await) }
    };
    assert_eq!(
        cases(w.counsellor.token.clone()).await,
        ids(&[&w.case]),
        "counsellor"
    );
    assert_eq!(
        cases(w.colleague.token.clone()).await,
        ids(&[&s.colleague_case]),
        "colleague"
    );
    assert_eq!(
        cases(w.supervisor.token.clone()).await,
        ids(&[&w.case, &s.colleague_case]),
        "supervisor"
    );
    assert_eq!(
        cases(w.other_supervisor.token.clone()).await,
        ids(&[&s.other_case]),
        "other centre's supervisor"
    );
    let admin = app.get("/api/v1/cases", &app.admin).await;
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
}

backend_test!(consultation_list_holds_exactly_the_callers_consultations);
async fn consultation_list_holds_exactly_the_callers_consultations(app: TestApp) {
    let s = scope(&app).await;
    let w = &s.world;
    let listed = |token: String| {
        let app = &app;
        async move { sorted(all_ids(app, &token, "/api/v1/consultations", 1).await) }
    };
    assert_eq!(
        listed(w.counsellor.token.clone()).await,
        ids(&[&w.consultation, &s.supervisor_on_case]),
        "counsellor: their own and those on their case"
    );
    assert_eq!(
        listed(w.colleague.token.clone()).await,
        ids(&[&s.colleague_anonymous]),
        "colleague: the walk-in's consultation is not on their case"
    );
    assert_eq!(
        listed(w.supervisor.token.clone()).await,
        ids(&[
            &w.consultation,
            &s.colleague_anonymous,
            &s.supervisor_on_case,
            &s.supervisor_for_walk_in
        ]),
        "supervisor: the whole centre"
    );
    assert_eq!(
        listed(w.other_supervisor.token.clone()).await,
        ids(&[&s.other_consultation]),
        "other centre's supervisor"
    );
    let admin = app.get("/api/v1/consultations", &app.admin).await;
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
}
