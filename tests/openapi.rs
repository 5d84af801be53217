//! The committed `openapi/openapi.json` is what front-end teams build from: it must equal what
//! the code generates. Refresh it with `UPDATE_OPENAPI=1 cargo test --test openapi`.

use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

fn generated_text() -> String {
    let mut text = karvon::startup::api_spec()
        .to_pretty_json()
        .expect("spec serialises");
    text.push('\n');
    text
}

fn spec() -> Value {
    serde_json::from_str(&generated_text()).expect("spec is JSON")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every (path, method, operation) of the document.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                all.push((path.clone(), method.to_owned(), operation.clone()));
            }
        }
    }
    all
}

#[test]
fn committed_openapi_json_matches_the_code() {
    let generated = generated_text();
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(COMMITTED, &generated).expect("write openapi/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test --test openapi` and commit it"
    );
}

#[test]
fn every_api_operation_except_login_and_refresh_needs_a_bearer_token() {
    let spec = spec();
    let operations = operations(&spec);
    assert!(operations.len() > 5);
    for (path, method, operation) in operations {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let public = path == "/api/v1/auth/login" || path == "/api/v1/auth/refresh";
        let bearer = operation["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|req| req.get("bearer").is_some()));
        assert_eq!(bearer, !public, "{method} {path}: bearer security");
    }
}

#[test]
fn the_bearer_scheme_is_http_bearer_jwt() {
    let spec = spec();
    let scheme = &spec["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
}

/// Follows a `$ref` to `#/components/responses/...`.
fn resolve<'a>(spec: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected response ref {reference}"));
            &spec["components"]["responses"][name]
        }
        None => response,
    }
}

/// `Problem`, or a problem with extension members: a schema that is `Problem` and more (allOf).
fn is_problem(spec: &Value, reference: &Value) -> bool {
    const PROBLEM: &str = "#/components/schemas/Problem";
    let Some(name) = reference
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    else {
        return false;
    };
    reference == PROBLEM
        || spec["components"]["schemas"][name]["allOf"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|part| part["$ref"] == PROBLEM))
}

#[test]
fn every_error_response_is_a_problem() {
    let spec = spec();
    let problem = &spec["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "errors"] {
        assert!(
            problem["properties"].get(field).is_some(),
            "Problem has {field}"
        );
    }
    let mut checked = 0;
    for (path, method, operation) in operations(&spec) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            if status.starts_with('2') {
                continue;
            }
            let response = resolve(&spec, response);
            let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
            assert!(
                is_problem(&spec, schema),
                "{method} {path} {status}: {schema}"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} error responses documented");
}

#[test]
fn login_documents_its_401_and_429() {
    let spec = spec();
    let responses = &spec["paths"]["/api/v1/auth/login"]["post"]["responses"];
    for status in ["400", "401", "429"] {
        assert!(responses.get(status).is_some(), "login documents {status}");
    }
}
