//! The OpenAPI 3.1 document. Paths come from the handlers (`#[utoipa::path]`, registered with
//! `service(...)`); this module adds the document-wide parts: info, servers, the bearer scheme,
//! and the problem responses every operation can give, derived from what the operation is
//! (secured, has a body, is a PATCH, ...) so that no handler has to list them by hand.
//! [`DocumentWide`] runs after the handlers' paths are collected (see `startup::api_spec`).

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Array, ObjectBuilder, Schema};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, Ref, RefOr, Required, Type};
use utoipa::{Modify, OpenApi};

use crate::auth::roles::Role;
use crate::error::{FieldError, Problem, PROBLEM_CONTENT_TYPE};
use crate::http::idempotency::accepts_key;
use crate::http::middleware::MAX_REQUEST_HEADER_BYTES;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Karvon API",
        description = "Case management for Migrant Resource Centres: migrants, consultations, \
cases, referrals and follow-ups, scoped by role and centre.\n\n\
Errors are RFC 9457 `application/problem+json`. Lists are keyset-paginated \
(`limit`, `cursor` → `next_cursor`). Mutable resources carry `version` and an `ETag`; \
`PATCH` requires `If-Match`. Most `POST`s accept `Idempotency-Key` (see the parameter).",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later")
    ),
    servers((url = "/", description = "This server")),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Log in, tokens, your own account"),
        (name = "centres", description = "Migrant Resource Centres of this deployment"),
        (name = "users", description = "Staff accounts"),
        (name = "migrants", description = "The people a centre serves"),
        (name = "cases", description = "Situations that need following up"),
        (name = "consultations", description = "Walk-ins, calls and online sessions"),
        (name = "group-sessions", description = "Orientations, awareness sessions and outreach events, with their attendance"),
        (name = "service-providers", description = "The referral directory"),
        (name = "referrals", description = "Referrals to service providers and their status"),
        (name = "follow-ups", description = "Calls and visits that check on a migrant; the agenda"),
        (name = "caseloads", description = "What each counsellor carries"),
        (name = "reports", description = "Aggregates for supervisors, the ministry and donors, as JSON or CSV, with disclosure control"),
        (name = "audit", description = "The append-only audit trail"),
        (name = "operations", description = "Liveness and readiness probes"),
    )
)]
pub struct ApiDoc;

pub struct DocumentWide;

/// Problem responses shared by operations: (status, component name, description).
const PROBLEMS: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "Malformed or invalid input; `errors` names each invalid field",
    ),
    (
        "401",
        "Unauthorized",
        "No valid access token: missing, expired, its session ended, or your role or centre \
         changed since it was issued (refresh it with `POST /auth/refresh`)",
    ),
    (
        "403",
        "Forbidden",
        "Your role may not do this, or your centre is inactive (`type` ending `/centre-inactive`)",
    ),
    ("404", "NotFound", "No such resource, or not in your scope"),
    ("409", "Conflict", "Conflicts with the current state"),
    (
        "410",
        "Gone",
        "The person was anonymised: their record can no longer be read or changed",
    ),
    (
        "412",
        "PreconditionFailed",
        "If-Match names a stale version",
    ),
    ("413", "PayloadTooLarge", "Body over the size limit"),
    (
        "415",
        "UnsupportedMediaType",
        "Body is not application/json",
    ),
    ("422", "Unprocessable", "Well-formed but breaks a rule"),
    ("428", "PreconditionRequired", "If-Match is missing"),
    ("429", "TooManyRequests", "Throttled; see Retry-After"),
    ("503", "ServiceUnavailable", "The database is unreachable"),
];

/// The input limits, written from the constants that enforce them.
fn limits() -> String {
    format!(
        "\n\nTimestamps are RFC 3339 between the years {} and {} (UTC). Request headers larger \
than {} KiB in total answer 431 Request Header Fields Too Large.",
        crate::time::EARLIEST_YEAR,
        crate::time::LATEST_YEAR,
        MAX_REQUEST_HEADER_BYTES / 1024
    )
}

impl Modify for DocumentWide {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        if let Some(description) = openapi.info.description.as_mut() {
            description.push_str(&limits());
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        for (_, name, description) in PROBLEMS {
            components
                .responses
                .insert((*name).to_owned(), RefOr::T(problem_response(description)));
        }

        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                add_problem_responses(path, method, operation);
            }
        }

        document_idempotency(openapi);
        reference_page_items(openapi);
    }
}

/// The problem responses an operation can give, derived from what it is (secured, has a body,
/// is a PATCH, ...), so that no handler lists them by hand.
fn add_problem_responses(path: &str, method: HttpMethod, operation: &mut Operation) {
    let is_api = path.starts_with("/api/");
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    if !secured {
        // Public operations say so (`security: []`), rather than leaving it unsaid.
        operation.security = Some(Vec::new());
    }
    let has_body = operation.request_body.is_some();
    let has_path_params =
        operation.parameters.iter().flatten().any(
            |parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Path),
        );
    let is_login = path.ends_with("/auth/login");
    let wanted: Vec<&str> = PROBLEMS
        .iter()
        .map(|(status, _, _)| *status)
        .filter(|status| match *status {
            "400" | "503" => is_api,
            "401" => secured || is_login || path.ends_with("/auth/refresh"),
            "403" => secured,
            "404" => is_api && (has_path_params || secured),
            "409" => is_api && matches!(method, HttpMethod::Post | HttpMethod::Patch),
            "410" => shows_a_person(path, &method),
            "412" | "428" => method == HttpMethod::Patch,
            "413" | "415" => has_body,
            "422" => is_api && (has_body || method == HttpMethod::Post),
            "429" => is_login || path.ends_with("/me/password"),
            _ => false,
        })
        .collect();
    for (status, name, _) in PROBLEMS.iter().filter(|(s, _, _)| wanted.contains(s)) {
        let response = match (*status, admitted_roles(operation)) {
            ("403", Some(roles)) => RefOr::T(forbidden_to_others(&roles)),
            _ => RefOr::Ref(Ref::from_response_name(*name)),
        };
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert(response);
    }
}

/// Operations that answer 410 once the person they address was anonymised.
fn shows_a_person(path: &str, method: &HttpMethod) -> bool {
    path.starts_with("/api/v1/migrants/{id}")
        || path == "/api/v1/cases/{id}/reopen"
        || (path == "/api/v1/consultations/{id}" && *method == HttpMethod::Patch)
}

/// utoipa writes each `Page<T>` with `T` inlined; point `items` at `T`'s component instead, so
/// a list and a single read share one schema (and generated clients one type).
fn reference_page_items(openapi: &mut OpenApiDoc) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let named: Vec<String> = components.schemas.keys().cloned().collect();
    for (name, schema) in components.schemas.iter_mut() {
        let Some(item) = name
            .strip_prefix("Page_")
            .filter(|i| named.iter().any(|n| n == i))
        else {
            continue;
        };
        if let RefOr::T(Schema::Object(page)) = schema {
            let items = Array::new(Ref::from_schema_name(item));
            page.properties
                .insert("items".to_owned(), RefOr::T(Schema::Array(items)));
        }
    }
}

/// The roles an operation's `bearer` requirement lists, when they are not all of them: the
/// handler's guard admits only those.
fn admitted_roles(operation: &Operation) -> Option<Vec<String>> {
    let requirement = operation.security.as_ref()?.first()?;
    let value = serde_json::to_value(requirement).ok()?;
    let roles: Vec<String> = serde_json::from_value(value.get("bearer")?.clone()).ok()?;
    (roles.len() < Role::ALL.len()).then_some(roles)
}

/// The 403 of an operation that only some roles may call, naming them.
fn forbidden_to_others(roles: &[String]) -> Response {
    let plural: Vec<String> = roles.iter().map(|role| format!("{role}s")).collect();
    problem_response(&format!(
        "Only {} may call this (the roles listed in `security`), or your centre is inactive \
         (`type` ending `/centre-inactive`), or a finer rule refuses you",
        plural.join(" and ")
    ))
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn operations(item: &mut PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

const IDEMPOTENCY_KEY: &str = "Makes a retry safe on a flaky network. A second `POST` with the \
same key and body, by the same user within 24 hours, creates or changes nothing: it answers the \
first response's status with the resource as it is now (read again under your current access, \
`Idempotent-Replayed: true`). The same key with another body answers 422; while the first request \
is still running, 409. A failed request is not remembered, so its retry runs again. Not accepted \
by `auth/*`, `me/password` and `users`, which carry passwords or hand out tokens: there the key is \
ignored and the request runs as usual.";

/// Declares `Idempotency-Key` on every `POST` that honours it, the headers its success
/// responses carry, and that the other `POST`s ignore it.
fn document_idempotency(openapi: &mut OpenApiDoc) {
    let key = idempotency_key_parameter();
    for (path, item) in openapi.paths.paths.iter_mut() {
        let Some(operation) = item.post.as_mut().filter(|_| path.starts_with("/api/")) else {
            continue;
        };
        if !accepts_key(path) {
            operation
                .description
                .get_or_insert_with(String::new)
                .push_str(
                    "\n\n`Idempotency-Key` is ignored here: nothing of this request is stored.",
                );
            continue;
        }
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(key.clone()));
        for (status, response) in operation.responses.responses.iter_mut() {
            if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                add_success_headers(status, response);
            }
        }
    }
}

fn add_success_headers(status: &str, response: &mut utoipa::openapi::response::Response) {
    let header =
        |description: &str| RefOr::T(HeaderBuilder::new().description(Some(description)).build());
    let replayed = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Boolean)))
        .description(Some(
            "`true` when this answers a retry with the same `Idempotency-Key`",
        ))
        .build();
    response
        .headers
        .insert("Idempotent-Replayed".to_owned(), RefOr::T(replayed));
    if response.content.is_empty() {
        return;
    }
    response.headers.insert(
        "Content-Location".to_owned(),
        header("The path of the resource shown: `GET` it to read it again"),
    );
    if status == "201" {
        response.headers.insert(
            "Location".to_owned(),
            header("The path of the created resource"),
        );
    }
}

fn idempotency_key_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(IDEMPOTENCY_KEY))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255)),
        ))
        .example(Some(serde_json::json!("5f0c1e2a-register-gulru")))
        .build()
}
