//! Scope follows the caller's current role and centre, at once: a counsellor moved to another
//! centre, demoted or deactivated loses the old centre's cases, referrals, follow-ups and people
//! with the very next request (their token is not re-issued); their open work moves in the same
//! change (`reassign_to`), or the change is refused listing it (409); staff of an inactive centre
//! are refused (403) until it is reactivated.

mod common;

use chrono::{Duration, Utc};
use common::world::*;
use common::{expect, id, problem, Account, TestApp};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const OK: StatusCode = StatusCode::OK;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;

/// Two centres; in centre A counsellors `c1` and `c2` and the supervisor. `c1` registered the
/// migrant and holds two cases of them: `closed_case` (closed by the supervisor with force, so
/// its referral and follow-up were cancelled) and the open `case` with a pending referral, a
/// scheduled follow-up and a consultation.
struct Scene {
    centre: String,
    other_centre: String,
    c1: Account,
    c2: Account,
    supervisor: Account,
    migrant: String,
    provider: String,
    closed_case: String,
    closed_referral: String,
    closed_follow_up: String,
    closed_consultation: String,
    case: String,
    referral: String,
    follow_up: String,
    consultation: String,
}

/// A case with a referral, a follow-up and a consultation, all by `token`: (case, referral,
/// follow-up, consultation).
async fn busy_case(
    app: &TestApp,
    token: &str,
    migrant: &str,
    provider: &str,
) -> (String, String, String, String) {
    let case = id(&open_case(app, token, migrant, "high", None).await);
    let referral = id(&refer(app, token, &case, provider, None).await);
    let follow_up = id(&schedule(app, token, &case, Utc::now() + Duration::days(1), None).await);
    let consultation = id(&consult(app, token, &case, Utc::now() - Duration::hours(1)).await);
    (case, referral, follow_up, consultation)
}

impl Scene {
    async fn build(app: &TestApp) -> Scene {
        let centre = app.create_centre("Dushanbe").await;
        let other_centre = app.create_centre("Khujand").await;
        let c1 = app
            .create_staff("coun.c1", "counsellor", Some(&centre))
            .await;
        let c2 = app
            .create_staff("coun.c2", "counsellor", Some(&centre))
            .await;
        let supervisor = app.create_staff("sup", "supervisor", Some(&centre)).await;
        let provider = create_provider(
            app,
            &supervisor.token,
            json!({"name": "Dushanbe Legal Aid", "kind": "legal_aid", "accepts_referrals": true}),
        )
        .await;
        let migrant = register_migrant(app, &c1.token, "Gulru", ALL_CONSENT).await;
        let closed = busy_case(app, &c1.token, &migrant, &provider).await;
        expect(
            app.post(
                &format!("/api/v1/cases/{}/close", closed.0),
                &supervisor.token,
                json!({"reason": "the family moved away", "force": true}),
            )
            .await,
            OK,
            "force close",
        )
        .await;
        let open = busy_case(app, &c1.token, &migrant, &provider).await;
        Scene {
            centre,
            other_centre,
            c1,
            c2,
            supervisor,
            migrant,
            provider,
            closed_case: closed.0,
            closed_referral: closed.1,
            closed_follow_up: closed.2,
            closed_consultation: closed.3,
            case: open.0,
            referral: open.1,
            follow_up: open.2,
            consultation: open.3,
        }
    }
}

/// What a counsellor-readable endpoint shows of the old centre: a single object (its path), or
/// a list that names the object's id somewhere in its body.
enum Read {
    One(String),
    List(String, String),
}

/// What the caller should get from each [`Read`].
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// 200, and lists show the object.
    Shown,
    /// Singles answer this status; lists 200 without the object.
    Hidden(StatusCode),
    /// Every read answers this status.
    Refused(StatusCode),
}

/// The counsellor-readable endpoints about one case and what is on it.
fn reads_of_case(case: &str, referral: &str, follow_up: &str, consultation: &str) -> Vec<Read> {
    let list = |path: String, id: &str| Read::List(path, id.to_owned());
    vec![
        Read::One(format!("/api/v1/cases/{case}")),
        Read::One(format!("/api/v1/cases/{case}/timeline")),
        Read::One(format!("/api/v1/referrals/{referral}")),
        Read::One(format!("/api/v1/follow-ups/{follow_up}")),
        Read::One(format!("/api/v1/consultations/{consultation}")),
        list("/api/v1/cases".into(), case),
        list("/api/v1/referrals".into(), referral),
        list(format!("/api/v1/referrals?case_id={case}"), referral),
        list("/api/v1/follow-ups".into(), follow_up),
        list(format!("/api/v1/follow-ups?case_id={case}"), follow_up),
        list("/api/v1/consultations".into(), consultation),
        list(
            format!("/api/v1/consultations?case_id={case}"),
            consultation,
        ),
    ]
}

/// Every counsellor-readable endpoint about the scene's two cases.
fn case_reads(s: &Scene) -> Vec<Read> {
    let mut reads = reads_of_case(
        &s.closed_case,
        &s.closed_referral,
        &s.closed_follow_up,
        &s.closed_consultation,
    );
    reads.extend(reads_of_case(
        &s.case,
        &s.referral,
        &s.follow_up,
        &s.consultation,
    ));
    reads.push(Read::List(
        "/api/v1/cases?status=closed".into(),
        s.closed_case.clone(),
    ));
    reads
}

/// Endpoints that show the old centre itself: its people, its directory, the centre.
fn centre_reads(s: &Scene) -> Vec<Read> {
    vec![
        Read::One(format!("/api/v1/migrants/{}", s.migrant)),
        Read::One(format!("/api/v1/service-providers/{}", s.provider)),
        Read::One(format!("/api/v1/centres/{}", s.centre)),
        Read::List("/api/v1/migrants?q=Gulru".into(), s.migrant.clone()),
        Read::List(
            "/api/v1/migrants/duplicates?given_name=Gulru&family_name=Jabborzoda&birth_year=1994"
                .into(),
            s.migrant.clone(),
        ),
        Read::List("/api/v1/service-providers".into(), s.provider.clone()),
        Read::List("/api/v1/centres".into(), s.centre.clone()),
    ]
}

/// The reads as `token` that do not answer as `expect` says.
async fn check_reads(app: &TestApp, token: &str, reads: &[Read], expect: Expect) -> Vec<String> {
    let mut failures = Vec::new();
    for read in reads {
        let (path, id) = match read {
            Read::One(path) => (path, None),
            Read::List(path, id) => (path, Some(id.as_str())),
        };
        let before = app.snapshot_with_audit();
        let response = app.get(path, token).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() && app.snapshot_with_audit() != before {
            failures.push(format!(
                "GET {path}: refused with {status} but stored something"
            ));
        }
        let ok = match (expect, id) {
            (Expect::Refused(wanted), _) | (Expect::Hidden(wanted), None) => status == wanted,
            (Expect::Shown, None) => status == OK,
            (Expect::Shown, Some(id)) => status == OK && body.contains(id),
            (Expect::Hidden(_), Some(id)) => status == OK && !body.contains(id),
        };
        if !ok {
            failures.push(format!(
                "GET {path} ({id:?}): {status}, expected {expect:?}"
            ));
        }
    }
    failures
}

async fn assert_reads(app: &TestApp, token: &str, reads: &[Read], expect: Expect) {
    let failures = check_reads(app, token, reads, expect).await;
    assert!(failures.is_empty(), "{:?}: {failures:#?}", app.backend);
}

/// `PATCH /users/{id}` as the admin, with the current ETag.
/// Audit events with `user_id` as the actor.
fn audited_actions_of(app: &TestApp, user_id: &str) -> i64 {
    use karvon::db::schema::audit_events;
    audit_events::table
        .filter(audit_events::actor_id.eq(user_id))
        .count()
        .get_result(&mut app.db())
        .expect("audit count")
}

/// Stored (assigned_to, status) of a case.
fn case_holder(app: &TestApp, id: &str) -> (String, String) {
    use karvon::db::schema::cases;
    cases::table
        .filter(cases::id.eq(id))
        .select((cases::assigned_to, cases::status))
        .first(&mut app.db())
        .expect("case")
}

fn follow_up_holder(app: &TestApp, id: &str) -> String {
    use karvon::db::schema::follow_ups;
    follow_ups::table
        .filter(follow_ups::id.eq(id))
        .select(follow_ups::assigned_to)
        .first(&mut app.db())
        .expect("follow-up")
}

/// The token `user` works with after an admin changed their role or centre: every one of
/// `reads` with the old token answers 401, and logging in again gives a token that carries the
/// change.
async fn renewed_token(app: &TestApp, user: &Account, reads: &[Read]) -> String {
    let refused = Expect::Refused(StatusCode::UNAUTHORIZED);
    assert_reads(app, &user.token, reads, refused).await;
    app.login(&user.username, &user.password).await
}

/// Moves `user` to `centre`, handing their open work to `to`.
async fn transfer(app: &TestApp, user: &Account, centre: &str, to: &Account) {
    expect(
        app.patch_user(&user.id, json!({"centre_id": centre, "reassign_to": to.id}))
            .await,
        OK,
        "transfer with reassign_to",
    )
    .await;
}

backend_test!(every_counsellor_read_forgets_the_old_centre_after_a_transfer);
/// The table-driven check: every counsellor-readable endpoint, with the old token, after the
/// centre change. The closed case stays assigned to c1, so only the centre keeps it out.
async fn every_counsellor_read_forgets_the_old_centre_after_a_transfer(app: TestApp) {
    let s = Scene::build(&app).await;
    let (cases, centre) = (case_reads(&s), centre_reads(&s));
    assert_reads(&app, &s.c1.token, &cases, Expect::Shown).await;
    assert_reads(&app, &s.c1.token, &centre, Expect::Shown).await;
    let caseload = expect(
        app.get("/api/v1/caseloads", &s.c1.token).await,
        OK,
        "caseload",
    )
    .await;
    assert_eq!(caseload["items"][0]["open_cases"], 1);

    transfer(&app, &s.c1, &s.other_centre, &s.c2).await;
    let token = renewed_token(&app, &s.c1, &cases).await;

    assert_reads(&app, &token, &cases, Expect::Hidden(NOT_FOUND)).await;
    assert_reads(&app, &token, &centre, Expect::Hidden(NOT_FOUND)).await;
    let me = expect(app.get("/api/v1/me", &token).await, OK, "me").await;
    assert_eq!(me["centre_id"], s.other_centre.as_str());
    let caseload = expect(app.get("/api/v1/caseloads", &token).await, OK, "caseload").await;
    assert_eq!(caseload["items"][0]["user_id"], s.c1.id.as_str());
    assert_eq!(caseload["items"][0]["open_cases"], 0);
    let agenda = app
        .list_ids("/api/v1/follow-ups?assigned_to=me", &token)
        .await;
    assert!(agenda.is_empty(), "{agenda:?}");
    // c2 holds the open case now, and sees it.
    let open = reads_of_case(&s.case, &s.referral, &s.follow_up, &s.consultation);
    assert_reads(&app, &s.c2.token, &open[..4], Expect::Shown).await;
}

type Write = (&'static str, Method, String, Value, StatusCode);

/// The writes a counsellor could make on their case, tried on `case` with its referral and
/// follow-up: (what, method, path, body, expected status).
fn case_writes(s: &Scene, case: &str, referral: &str, follow_up: &str) -> Vec<Write> {
    let due = rfc3339(Utc::now() + Duration::days(2));
    let refer = json!({"provider_id": s.provider, "reason": "legal help", "urgency": "high"});
    let assign = json!({"assigned_to": s.c2.id, "reason": "x"});
    let on_case = |action: &str| format!("/api/v1/cases/{case}/{action}");
    let on_follow_up = |action: &str| format!("/api/v1/follow-ups/{follow_up}/{action}");
    let post = |what, path, body| (what, Method::POST, path, body, NOT_FOUND);
    let mut writes = vec![
        post("close", on_case("close"), json!({"reason": "done"})),
        // Supervisors only: a counsellor is refused by role, whatever the case.
        ("assign", Method::POST, on_case("assign"), assign, FORBIDDEN),
        (
            "reopen",
            Method::POST,
            on_case("reopen"),
            json!({"reason": "x"}),
            FORBIDDEN,
        ),
        post("refer", on_case("referrals"), refer),
        post(
            "schedule",
            on_case("follow-ups"),
            json!({"due_at": due, "kind": "call"}),
        ),
        post(
            "complete",
            on_follow_up("complete"),
            json!({"outcome": "called"}),
        ),
        post(
            "cancel",
            on_follow_up("cancel"),
            json!({"reason": "not needed"}),
        ),
        post("miss", on_follow_up("miss"), json!({"note": "no answer"})),
    ];
    let transition = format!("/api/v1/referrals/{referral}/transitions");
    writes.push(post(
        "move referral",
        transition,
        json!({"to": "sent", "note": "sent"}),
    ));
    writes.extend(record_writes(s, case, follow_up));
    writes
}

/// Changes to the case's records, and new records naming them in the body (422).
fn record_writes(s: &Scene, case: &str, follow_up: &str) -> Vec<Write> {
    let due = rfc3339(Utc::now() + Duration::days(2));
    let consultation = json!({
        "case_id": case, "occurred_at": rfc3339(Utc::now() - Duration::hours(1)),
        "channel": "phone", "duration_minutes": 10, "topics": ["health"], "language": "tg",
        "notes": "Asked about the clinic",
    });
    let new_case = json!({"migrant_id": s.migrant, "summary": "x"});
    let patch = |what, path, body| (what, Method::PATCH, path, body, NOT_FOUND);
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let consultation_path = format!("/api/v1/consultations/{}", s.closed_consultation);
    vec![
        patch(
            "update case",
            format!("/api/v1/cases/{case}"),
            json!({"priority": "urgent"}),
        ),
        patch(
            "update follow-up",
            format!("/api/v1/follow-ups/{follow_up}"),
            json!({"due_at": due}),
        ),
        patch(
            "update consultation",
            consultation_path,
            json!({"notes": "x"}),
        ),
        patch(
            "update migrant",
            format!("/api/v1/migrants/{}", s.migrant),
            json!({"phone": "+992901111111"}),
        ),
        (
            "consult on the case",
            Method::POST,
            "/api/v1/consultations".into(),
            consultation,
            refused,
        ),
        (
            "open a case",
            Method::POST,
            "/api/v1/cases".into(),
            new_case,
            refused,
        ),
    ]
}

/// Tries every write as `token` (a PATCH with the ETag `owner` reads first); returns the
/// failures.
async fn check_writes(app: &TestApp, token: &str, owner: &str, writes: Vec<Write>) -> Vec<String> {
    let mut failures = Vec::new();
    for (what, method, path, body, expected) in writes {
        let mut request = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(token);
        if method == Method::PATCH {
            request = request.header("If-Match", app.etag(&path, owner).await);
        }
        let before = app.snapshot_with_audit();
        let response = request.json(&body).send().await.expect("request");
        let status = response.status();
        if status != expected {
            let text = response.text().await.unwrap_or_default();
            failures.push(format!("{what}: {status}, expected {expected}: {text}"));
        } else if !status.is_success() && app.snapshot_with_audit() != before {
            failures.push(format!(
                "{what}: refused with {status} but stored something"
            ));
        }
    }
    failures
}

/// Hands c1's open case and follow-up to c2 through the ordinary endpoints, moves c1 to the
/// other centre (nothing open left: no reassign_to needed), then the supervisor reopens c1's
/// closed case — open again, still assigned to c1 — and adds a referral and a follow-up to it.
/// Returns (referral, follow-up).
async fn reopen_behind_a_transfer(app: &TestApp, s: &Scene) -> (String, String) {
    let sup = &s.supervisor.token;
    let assign = json!({"assigned_to": s.c2.id, "reason": "c1 is leaving"});
    let path = format!("/api/v1/cases/{}/assign", s.case);
    expect(app.post(&path, sup, assign).await, OK, "assign").await;
    let path = format!("/api/v1/follow-ups/{}", s.follow_up);
    let etag = app.etag(&path, sup).await;
    let hand_over = app
        .patch(&path, sup, &etag, json!({"assigned_to": s.c2.id}))
        .await;
    expect(hand_over, OK, "hand over the follow-up").await;
    let moved = app
        .patch_user(&s.c1.id, json!({"centre_id": s.other_centre}))
        .await;
    expect(moved, OK, "transfer").await;
    let path = format!("/api/v1/cases/{}/reopen", s.closed_case);
    let reopen = app
        .post(&path, sup, json!({"reason": "the family came back"}))
        .await;
    expect(reopen, OK, "reopen").await;
    assert_eq!(
        case_holder(app, &s.closed_case),
        (s.c1.id.clone(), "open".into())
    );
    let referral = id(&refer(app, sup, &s.closed_case, &s.provider, None).await);
    let due = Utc::now() + Duration::days(1);
    let follow_up = id(&schedule(app, sup, &s.closed_case, due, Some(&s.c2.id)).await);
    (referral, follow_up)
}

backend_test!(a_transferred_counsellor_cannot_read_or_write_a_case_still_assigned_to_them);
/// The review's repro: c1 is moved to centre B while a case of centre A is still assigned to
/// them. With c1's token every read of it is 404, every write 404 (422 for a body reference),
/// and nothing is written.
async fn a_transferred_counsellor_cannot_read_or_write_a_case_still_assigned_to_them(app: TestApp) {
    let s = Scene::build(&app).await;
    let (referral, follow_up) = reopen_behind_a_transfer(&app, &s).await;
    let case = &s.closed_case;
    let mut reads = reads_of_case(case, &referral, &follow_up, &s.closed_consultation);
    reads.push(Read::List(
        "/api/v1/follow-ups?assigned_to=me".into(),
        follow_up.clone(),
    ));
    let token = renewed_token(&app, &s.c1, &reads).await;
    let before = app.snapshot();
    let mut failures = check_reads(&app, &token, &reads, Expect::Hidden(NOT_FOUND)).await;
    let audited = audited_actions_of(&app, &s.c1.id);
    let writes = case_writes(&s, case, &referral, &follow_up);
    failures.extend(check_writes(&app, &token, &s.supervisor.token, writes).await);
    assert!(failures.is_empty(), "{:?}: {failures:#?}", app.backend);
    assert_eq!(app.snapshot(), before, "{:?}: nothing written", app.backend);
    assert_eq!(
        audited_actions_of(&app, &s.c1.id),
        audited,
        "no audit row of a refusal"
    );
}

backend_test!(a_demoted_supervisor_keeps_only_a_counsellors_scope);
async fn a_demoted_supervisor_keeps_only_a_counsellors_scope(app: TestApp) {
    let s = Scene::build(&app).await;
    let former = app
        .create_staff("sup2", "supervisor", Some(&s.centre))
        .await;
    let reads = case_reads(&s);
    assert_reads(&app, &former.token, &reads, Expect::Shown).await;

    let demote = app
        .patch_user(&former.id, json!({"role": "counsellor"}))
        .await;
    expect(demote, OK, "demote").await;
    let token = renewed_token(&app, &former, &reads).await;

    let before = app.snapshot();
    assert_reads(&app, &token, &reads, Expect::Hidden(NOT_FOUND)).await;
    let migrant = app
        .get(&format!("/api/v1/migrants/{}", s.migrant), &token)
        .await;
    assert_eq!(
        migrant.status(),
        FORBIDDEN,
        "searchable, not in their caseload"
    );
    // What a counsellor of the centre may do anyway (open a case, ...) is left out.
    let writes = case_writes(&s, &s.case, &s.referral, &s.follow_up)
        .into_iter()
        .filter(|(_, _, _, _, status)| [NOT_FOUND, FORBIDDEN].contains(status))
        .filter(|(what, ..)| *what != "update migrant")
        .collect();
    let failures = check_writes(&app, &token, &s.supervisor.token, writes).await;
    assert!(failures.is_empty(), "{:?}: {failures:#?}", app.backend);
    assert_eq!(app.snapshot(), before, "nothing written");
}

backend_test!(a_counsellor_made_admin_hands_over_and_reads_no_cases);
/// Made an admin, a counsellor's open work moves and their token reads no personal data.
async fn a_counsellor_made_admin_hands_over_and_reads_no_cases(app: TestApp) {
    let s = Scene::build(&app).await;
    let refused = app.patch_user(&s.c1.id, json!({"role": "admin"})).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body = json!({"role": "admin", "reassign_to": s.supervisor.id});
    expect(app.patch_user(&s.c1.id, body).await, OK, "make admin").await;
    assert_eq!(case_holder(&app, &s.case).0, s.supervisor.id);
    assert_eq!(follow_up_holder(&app, &s.follow_up), s.supervisor.id);
    let reads = case_reads(&s);
    let token = renewed_token(&app, &s.c1, &reads).await;
    assert_reads(&app, &token, &reads, Expect::Refused(FORBIDDEN)).await;
}

backend_test!(a_promotion_within_the_centre_keeps_the_work);
/// Counsellor and supervisor may both hold cases: a promotion within the centre keeps the work.
async fn a_promotion_within_the_centre_keeps_the_work(app: TestApp) {
    let s = Scene::build(&app).await;
    let promote = app
        .patch_user(&s.c1.id, json!({"role": "supervisor"}))
        .await;
    expect(promote, OK, "promote").await;
    assert_eq!(case_holder(&app, &s.case).0, s.c1.id);
    assert_eq!(follow_up_holder(&app, &s.follow_up), s.c1.id);
    let c2_case = id(&open_case(&app, &s.c2.token, &s.migrant, "low", None).await);
    let token = renewed_token(&app, &s.c1, &case_reads(&s)).await;
    let read = app.get(&format!("/api/v1/cases/{c2_case}"), &token).await;
    assert_eq!(read.status(), OK, "a supervisor reads the centre's cases");
}

backend_test!(a_deactivated_counsellor_hands_over_and_is_logged_out);
async fn a_deactivated_counsellor_hands_over_and_is_logged_out(app: TestApp) {
    let s = Scene::build(&app).await;
    let body = json!({"active": false, "reassign_to": s.c2.id});
    expect(app.patch_user(&s.c1.id, body).await, OK, "deactivate").await;
    assert_eq!(case_holder(&app, &s.case).0, s.c2.id);
    assert_eq!(follow_up_holder(&app, &s.follow_up), s.c2.id);
    let before = app.snapshot();
    let unauthorized = Expect::Refused(StatusCode::UNAUTHORIZED);
    assert_reads(&app, &s.c1.token, &case_reads(&s), unauthorized).await;
    let writes = case_writes(&s, &s.case, &s.referral, &s.follow_up)
        .into_iter()
        .map(|(what, method, path, body, _)| (what, method, path, body, StatusCode::UNAUTHORIZED))
        .collect();
    let failures = check_writes(&app, &s.c1.token, &s.supervisor.token, writes).await;
    assert!(failures.is_empty(), "{:?}: {failures:#?}", app.backend);
    assert_eq!(app.snapshot(), before, "nothing written");
}

/// (action, entity_id, request_id) of every audit event, oldest first.
fn audit_trail(app: &TestApp) -> Vec<(String, Option<String>, Option<String>)> {
    use karvon::db::schema::audit_events;
    audit_events::table
        .order(audit_events::id.asc())
        .select((
            audit_events::action,
            audit_events::entity_id,
            audit_events::request_id,
        ))
        .load(&mut app.db())
        .expect("audit events")
}

/// (kind, assigned_to, note, actor) of a case's last event.
fn last_case_event(app: &TestApp, case: &str) -> (String, Option<String>, Option<String>, String) {
    use karvon::db::schema::case_events;
    case_events::table
        .filter(case_events::case_id.eq(case))
        .order(case_events::id.desc())
        .select((
            case_events::kind,
            case_events::assigned_to,
            case_events::note,
            case_events::actor_id,
        ))
        .first(&mut app.db())
        .expect("case event")
}

fn sorted_strings(value: &Value) -> Vec<String> {
    let mut items: Vec<String> = value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect();
    items.sort();
    items
}

/// c1's open work in the scene plus a second open case and a follow-up on c2's case assigned
/// to c1: (open cases, scheduled follow-ups), each sorted.
async fn more_open_work(app: &TestApp, s: &Scene) -> (Vec<String>, Vec<String>) {
    let second = id(&open_case(app, &s.c1.token, &s.migrant, "low", None).await);
    let c2_case = id(&open_case(app, &s.c2.token, &s.migrant, "low", None).await);
    let due = Utc::now() + Duration::days(3);
    let theirs = id(&schedule(app, &s.c2.token, &c2_case, due, Some(&s.c1.id)).await);
    let mut cases = vec![s.case.clone(), second];
    let mut follow_ups = vec![s.follow_up.clone(), theirs];
    cases.sort();
    follow_ups.sort();
    (cases, follow_ups)
}

backend_test!(moving_deactivating_or_making_admin_a_user_with_open_work_answers_409_listing_it);
async fn moving_deactivating_or_making_admin_a_user_with_open_work_answers_409_listing_it(
    app: TestApp,
) {
    let s = Scene::build(&app).await;
    let (cases, follow_ups) = more_open_work(&app, &s).await;
    let before = app.snapshot();
    for body in [
        json!({"centre_id": s.other_centre}),
        json!({"active": false}),
        json!({"role": "admin"}),
        json!({"centre_id": s.other_centre, "full_name": "C One", "active": false}),
    ] {
        let response = app.patch_user(&s.c1.id, body.clone()).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{body}");
        let problem = problem(response).await;
        assert_eq!(problem["status"], 409);
        assert!(
            problem["detail"].as_str().unwrap().contains("reassign_to"),
            "{problem}"
        );
        assert_eq!(sorted_strings(&problem["open_cases"]), cases, "{body}");
        assert_eq!(problem["open_case_count"], 2);
        assert_eq!(
            sorted_strings(&problem["scheduled_follow_ups"]),
            follow_ups,
            "{body}"
        );
        assert_eq!(problem["scheduled_follow_up_count"], 2);
    }
    assert_eq!(app.snapshot(), before, "{:?}: nothing changed", app.backend);
    let me = expect(
        app.get("/api/v1/me", &s.c1.token).await,
        OK,
        "still at work",
    )
    .await;
    assert_eq!(me["centre_id"], s.centre.as_str());
}

backend_test!(a_bad_reassign_to_is_a_422_and_changes_nothing);
async fn a_bad_reassign_to_is_a_422_and_changes_nothing(app: TestApp) {
    let s = Scene::build(&app).await;
    more_open_work(&app, &s).await;
    let elsewhere = app
        .create_staff("sup.b", "supervisor", Some(&s.other_centre))
        .await;
    let leaver = app
        .create_staff("leaver", "counsellor", Some(&s.centre))
        .await;
    expect(
        app.patch_user(&leaver.id, json!({"active": false})).await,
        OK,
        "deactivate",
    )
    .await;
    let admin_id = expect(app.get("/api/v1/me", &app.admin).await, OK, "me").await["id"].clone();
    let unknown = json!(uuid::Uuid::now_v7().to_string());
    let before = app.snapshot();
    let move_to = |to: &Value| json!({"centre_id": s.other_centre, "reassign_to": to});
    for (why, body) in [
        ("unknown user", move_to(&unknown)),
        ("staff of the new centre", move_to(&json!(elsewhere.id))),
        ("the user being moved", move_to(&json!(s.c1.id))),
        ("a deactivated colleague", move_to(&json!(leaver.id))),
        ("an admin", move_to(&admin_id)),
        (
            "nothing to hand over",
            json!({"full_name": "C One", "reassign_to": s.c2.id}),
        ),
    ] {
        let response = app.patch_user(&s.c1.id, body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let problem = problem(response).await;
        assert_eq!(
            problem["errors"][0]["field"], "reassign_to",
            "{why}: {problem}"
        );
    }
    assert_eq!(app.snapshot(), before, "{:?}: nothing changed", app.backend);
}

/// The audit events since `from` were written by one request: a `case.reassign` per case, a
/// `follow_up.reassign` per follow-up and the `user.update` of `user`.
fn assert_one_request(
    app: &TestApp,
    from: usize,
    cases: &[String],
    follow_ups: &[String],
    user: &str,
) {
    let trail = &audit_trail(app)[from..];
    let request = trail.last().and_then(|(_, _, request)| request.clone());
    assert!(request.is_some());
    assert!(
        trail.iter().all(|(_, _, r)| *r == request),
        "one request: {trail:?}"
    );
    let mut actions: Vec<(String, String)> = trail
        .iter()
        .map(|(action, entity, _)| (action.clone(), entity.clone().unwrap_or_default()))
        .collect();
    actions.sort();
    let named = |action: &str, ids: &[String]| -> Vec<(String, String)> {
        ids.iter()
            .map(|id| (action.to_owned(), id.clone()))
            .collect()
    };
    let mut expected = [
        named("case.reassign", cases),
        named("follow_up.reassign", follow_ups),
        named("user.update", &[user.to_owned()]),
    ]
    .concat();
    expected.sort();
    assert_eq!(actions, expected, "{:?}", app.backend);
}

backend_test!(reassign_to_moves_cases_and_follow_ups_with_the_user_change);
/// With `reassign_to`, the user change, every case's reassignment (case event and audit row, as
/// `POST cases/{id}/assign` writes them) and every follow-up's move happen in one request.
async fn reassign_to_moves_cases_and_follow_ups_with_the_user_change(app: TestApp) {
    let s = Scene::build(&app).await;
    let (cases, follow_ups) = more_open_work(&app, &s).await;
    let trail_before = audit_trail(&app).len();
    transfer(&app, &s.c1, &s.other_centre, &s.c2).await;

    let admin = expect(app.get("/api/v1/me", &app.admin).await, OK, "me").await;
    for case in &cases {
        assert_eq!(case_holder(&app, case), (s.c2.id.clone(), "open".into()));
        let (kind, to, note, actor) = last_case_event(&app, case);
        assert_eq!(
            (kind.as_str(), to.as_deref()),
            ("assigned", Some(s.c2.id.as_str()))
        );
        assert!(note.unwrap_or_default().contains("moved to another centre"));
        assert_eq!(actor, admin["id"].as_str().unwrap());
    }
    for follow_up in &follow_ups {
        assert_eq!(follow_up_holder(&app, follow_up), s.c2.id);
    }
    assert_eq!(
        case_holder(&app, &s.closed_case).0,
        s.c1.id,
        "closed cases stay"
    );

    assert_one_request(&app, trail_before, &cases, &follow_ups, &s.c1.id);
    let timeline = expect(
        app.get(&format!("/api/v1/cases/{}/timeline", s.case), &s.c2.token)
            .await,
        OK,
        "timeline",
    )
    .await;
    assert!(timeline.to_string().contains("moved to another centre"));
}

async fn set_centre_active(app: &TestApp, centre: &str, active: bool) {
    let path = format!("/api/v1/centres/{centre}");
    let etag = app.etag(&path, &app.admin).await;
    let response = app
        .patch(&path, &app.admin, &etag, json!({"active": active}))
        .await;
    expect(response, OK, "set centre active").await;
}

/// Requests a member of an inactive centre might make, each must be a 403 naming the cause.
async fn assert_refused_as_inactive(app: &TestApp, who: &Account, s: &Scene) {
    let anonymous = json!({
        "anonymous": {"sex": "male", "age_band": "25-34", "nationality": "TJ", "migration_status": "prospective"},
        "occurred_at": rfc3339(Utc::now() - Duration::hours(1)), "channel": "walk_in",
        "duration_minutes": 5, "topics": ["other"], "language": "tg", "notes": "",
    });
    let password = json!({"current_password": who.password, "new_password": "another-long-pass-9"});
    for (method, path, body) in [
        (Method::GET, "/api/v1/me".to_owned(), None),
        (Method::GET, "/api/v1/cases".to_owned(), None),
        (Method::GET, format!("/api/v1/cases/{}", s.case), None),
        (Method::GET, format!("/api/v1/centres/{}", s.centre), None),
        (
            Method::POST,
            "/api/v1/consultations".to_owned(),
            Some(anonymous),
        ),
        (
            Method::POST,
            "/api/v1/me/password".to_owned(),
            Some(password),
        ),
        (
            Method::POST,
            "/api/v1/auth/logout".to_owned(),
            Some(json!({})),
        ),
    ] {
        let response = app.request(method, &path, Some(&who.token), body).await;
        assert_eq!(response.status(), FORBIDDEN, "{path} as {}", who.username);
        let problem = problem(response).await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("centre is inactive"), "{path}: {problem}");
    }
}

backend_test!(staff_of_an_inactive_centre_are_refused_until_it_is_reactivated);
/// Staff of a deactivated centre are refused on every request (403); admins and other centres
/// work on; login still succeeds (the session is useless until the centre is reactivated, and
/// then works at once).
async fn staff_of_an_inactive_centre_are_refused_until_it_is_reactivated(app: TestApp) {
    let s = Scene::build(&app).await;
    let elsewhere = app
        .create_staff("sup.b", "supervisor", Some(&s.other_centre))
        .await;
    set_centre_active(&app, &s.centre, false).await;

    let before = app.snapshot();
    for who in [&s.c1, &s.supervisor] {
        assert_refused_as_inactive(&app, who, &s).await;
    }
    let fresh = app.login(&s.c1.username, &s.c1.password).await;
    let me = app.get("/api/v1/me", &fresh).await;
    assert_eq!(
        me.status(),
        FORBIDDEN,
        "a new session is refused the same way"
    );
    for (who, token) in [("other centre", &elsewhere.token), ("admin", &app.admin)] {
        let me = app.get("/api/v1/me", token).await;
        assert_eq!(me.status(), OK, "{who}");
    }
    let users = app
        .get(&format!("/api/v1/users?centre_id={}", s.centre), &app.admin)
        .await;
    assert_eq!(users.status(), OK, "admins manage the centre's staff");
    assert_eq!(app.snapshot(), before, "{:?}: nothing written", app.backend);

    set_centre_active(&app, &s.centre, true).await;
    for token in [&s.c1.token, &s.supervisor.token, &fresh] {
        let read = app.get(&format!("/api/v1/cases/{}", s.case), token).await;
        assert_eq!(read.status(), OK, "reactivated: the same tokens work again");
    }
}

backend_test!(a_transfer_racing_with_new_assignments_leaves_nothing_behind);
/// Supervisors keep assigning new cases to c1 while the admin moves c1 to the other centre with
/// `reassign_to`: each case is either created first and moved, or refused (422) after the move.
/// No open case of the old centre is left with c1.
async fn a_transfer_racing_with_new_assignments_leaves_nothing_behind(app: TestApp) {
    let s = Scene::build(&app).await;
    let path = format!("/api/v1/users/{}", s.c1.id);
    let etag = app.etag(&path, &app.admin).await;
    let body = json!({"centre_id": s.other_centre, "reassign_to": s.c2.id});
    let moved = std::sync::atomic::AtomicBool::new(false);
    let transfer = async {
        let response = app.patch(&path, &app.admin, &etag, body).await;
        moved.store(true, std::sync::atomic::Ordering::SeqCst);
        response
    };
    // Each worker assigns new cases one after another until the transfer has answered.
    let worker = || async {
        let mut statuses = Vec::new();
        while !moved.load(std::sync::atomic::Ordering::SeqCst) {
            let body = json!({"migrant_id": s.migrant, "summary": "new", "assigned_to": s.c1.id});
            statuses.push(
                app.post("/api/v1/cases", &s.supervisor.token, body)
                    .await
                    .status(),
            );
        }
        statuses
    };
    let (response, a, b, c, d) = tokio::join!(transfer, worker(), worker(), worker(), worker());
    assert_eq!(response.status(), OK);
    for status in [a, b, c, d].concat() {
        let expected = [StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY];
        assert!(expected.contains(&status), "{status}");
    }
    use karvon::db::schema::cases;
    let left: i64 = cases::table
        .filter(cases::assigned_to.eq(&s.c1.id))
        .filter(cases::status.eq("open"))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(left, 0, "{:?}", app.backend);
}
