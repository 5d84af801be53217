//! The roles each operation's `security` requirement lists in the spec are the roles its handler's
//! guard admits: every other role gets 403 before anything is read or written, and every listed
//! role gets past the guard (refused requests store nothing). Walks the live spec, so a new endpoint is covered the day it lands.

mod common;

use common::{Account, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ROLES: [&str; 3] = ["counsellor", "supervisor", "admin"];

/// The guard's refusal, as opposed to a finer rule's 403 (a counsellor forcing a close, ...).
fn refused_by_guard(status: StatusCode, problem: &Value) -> bool {
    status == StatusCode::FORBIDDEN
        && problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("only ") && detail.contains("; you are a"))
}

/// One operation that not every role may call: method, path with a made-up id, example body, roles listed in the spec.
struct Operation {
    method: Method,
    path: String,
    body: Option<Value>,
    roles: Vec<String>,
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(roles) = operation["security"][0]["bearer"].as_array() else {
                continue;
            };
            if roles.len() == ROLES.len() {
                // Any active staff member: the plain `Staff` extractor, no guard to check.
                continue;
            }
            let body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|schema| example(spec, schema));
            found.push(Operation {
                method: method.to_uppercase().parse().expect("method"),
                path: path.replace("{id}", &uuid::Uuid::now_v7().to_string())
                    + &required_query(operation),
                body,
                roles: roles
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
            });
        }
    }
    found
}

/// `?name=example&...` for the operation's required query parameters.
fn required_query(operation: &Value) -> String {
    let pairs: Vec<String> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .map(|p| {
            let example = p["example"]
                .as_str()
                .expect("required parameters have examples");
            format!("{}={example}", p["name"].as_str().expect("name"))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// The schema's example (a body that deserializes), or `{}` for all-optional PATCH bodies.
fn example(spec: &Value, reference: &str) -> Value {
    let name = reference.rsplit('/').next().expect("schema name");
    let schema = &spec["components"]["schemas"][name];
    match &schema["example"] {
        Value::Null => {
            assert!(
                schema["required"].as_array().is_none_or(Vec::is_empty),
                "{name} has required fields but no example"
            );
            json!({})
        }
        example => example.clone(),
    }
}

async fn call(app: &TestApp, operation: &Operation, token: &str) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(operation.method.clone(), app.url(&operation.path))
        .bearer_auth(token)
        .header("If-Match", "\"1\"");
    if let Some(body) = &operation.body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

backend_test!(each_operation_admits_exactly_the_roles_its_spec_lists);
async fn each_operation_admits_exactly_the_roles_its_spec_lists(app: TestApp) {
    let centre = app.create_centre("Khujand").await;
    let counsellor = app
        .create_staff("counsellor1", "counsellor", Some(&centre))
        .await;
    let supervisor = app
        .create_staff("supervisor1", "supervisor", Some(&centre))
        .await;
    let token = |role: &str| -> &str {
        let account: &Account = match role {
            "counsellor" => &counsellor,
            "supervisor" => &supervisor,
            _ => return &app.admin,
        };
        &account.token
    };
    let spec: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    let mut failures = Vec::new();
    let operations = operations(&spec);
    assert!(operations.len() > 30, "walked only {}", operations.len());
    for operation in &operations {
        for role in ROLES
            .iter()
            .filter(|r| !operation.roles.iter().any(|l| l == *r))
        {
            let before = app.snapshot_with_audit();
            let (status, problem) = call(&app, operation, token(role)).await;
            if !refused_by_guard(status, &problem) || app.snapshot_with_audit() != before {
                failures.push(format!(
                    "{} {} as {role}: {status} {problem}",
                    operation.method, operation.path
                ));
            }
        }
    }
    for operation in &operations {
        for role in &operation.roles {
            let (status, problem) = call(&app, operation, token(role)).await;
            if refused_by_guard(status, &problem) {
                failures.push(format!(
                    "{} {} as {role}, listed: {status} {problem}",
                    operation.method, operation.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{:?}: {failures:#?}", app.backend);
}
