//! The gateway hands the caller context the authentication layer put in the HTTP request's
//! extensions to the `AgentHubApi` methods: unary calls, the SSE trace and `whoami` answer as
//! the principal there may see, and every answer carries its `CallOutcome` for the audit.
//! (A stand-in layer inserts the principal: `axum::Extension`.)

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use tonic::Code;
use tower::ServiceExt;

use agentry_broker::Broker;
use agentry_core::AgentId;

use super::{Gateway, router};
use crate::audit::{AuditContext, CallOutcome};
use crate::auth::{AuthMethod, Principal, Role};
use crate::config::HubConfig;
use crate::grpc::AgentHubApi;
use crate::hub::Hub;

/// A hub on an in-memory SQLite store, without background tasks.
async fn hub() -> Hub {
    let config = HubConfig::for_test("sqlite::memory:");
    let store = agentry_store::connect(&config.database_url).await.expect("an in-memory store");
    Hub::new(config, store, Broker::in_process())
}

/// Spawns an agent of `tenant` directly on the hub; returns its id.
async fn spawn_in(hub: &Hub, tenant: &str) -> AgentId {
    let mut command = crate::test_support::scripted_spawn(None);
    command.tenant = tenant.to_owned();
    hub.spawn(command).await.expect("spawn").0.id
}

/// Returns a token principal of `role` in `tenant`.
fn principal(actor: &str, role: Role, tenant: Option<&str>) -> Principal {
    Principal { actor: actor.to_owned(), role, tenant: tenant.map(str::to_owned), method: AuthMethod::Token }
}

/// Sends `request` to the gateway of `hub` as `caller` (absent: no principal in the request).
async fn send(hub: &Hub, caller: Option<Principal>, request: Request<Body>) -> Response {
    let gateway = Gateway::new(AgentHubApi::new(hub.clone()), hub.metrics().clone());
    let mut app = router(gateway);
    if let Some(caller) = caller {
        app = app.layer(axum::Extension(caller)).layer(axum::Extension(AuditContext::attached()));
    }
    app.oneshot(request).await.expect("the router answers")
}

/// Returns the JSON body of `response`.
async fn json_body(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&bytes)))
}

/// `POST /agentry.v1.AgentHub/{method}` with a JSON `body`.
fn unary(method: &str, body: &Value) -> Request<Body> {
    Request::post(format!("/agentry.v1.AgentHub/{method}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request")
}

/// `GET {uri}`.
fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("a request")
}

/// Returns the outcome the gateway put in `response`'s extensions.
fn outcome(response: &Response) -> CallOutcome {
    response.extensions().get::<CallOutcome>().cloned().expect("a CallOutcome in the response's extensions")
}

#[tokio::test]
async fn unary_calls_see_the_principal_of_the_request() {
    let hub = hub().await;
    let acme = spawn_in(&hub, "acme").await;
    let globex = spawn_in(&hub, "globex").await;
    let ids = |listed: &Value| -> Vec<String> {
        let agents = listed["agents"].as_array().cloned().unwrap_or_default();
        agents.iter().filter_map(|agent| agent["agentId"].as_str().map(str::to_owned)).collect()
    };

    let caller = principal("alice", Role::Client, Some("acme"));
    let response = send(&hub, Some(caller.clone()), unary("ListAgents", &json!({}))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(&response), CallOutcome { code: Code::Ok, message: String::new() });
    assert_eq!(ids(&json_body(response).await), [acme.to_string()], "acme's token lists acme's agent only");

    // Another tenant's agent does not exist for it.
    let response = send(&hub, Some(caller), unary("GetAgent", &json!({ "agentId": globex.to_string() }))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(outcome(&response).code, Code::NotFound);
    assert_eq!(json_body(response).await["code"], "not_found");

    // Without a principal (no layer): the anonymous admin of every tenant.
    let response = send(&hub, None, unary("ListAgents", &json!({}))).await;
    let mut all = ids(&json_body(response).await);
    all.sort();
    let mut expected = vec![acme.to_string(), globex.to_string()];
    expected.sort();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn who_am_i_answers_the_principal_over_both_paths() {
    let hub = hub().await;
    let viewer = principal("ops-dashboard", Role::Viewer, Some("acme"));
    let response = send(&hub, Some(viewer.clone()), get("/api/v1/whoami")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(&response).code, Code::Ok);
    let expected = json!({ "identity": "ops-dashboard", "role": "viewer", "tenant": "acme", "authenticated": true });
    assert_eq!(json_body(response).await, expected);

    let response = send(&hub, Some(viewer), unary("WhoAmI", &json!({}))).await;
    let expected = json!({ "actor": "ops-dashboard", "role": "viewer", "tenant": "acme", "method": "token" });
    assert_eq!(json_body(response).await, expected);

    let admin = principal("root", Role::Admin, None);
    let response = send(&hub, Some(admin), get("/api/v1/whoami")).await;
    let expected = json!({ "identity": "root", "role": "admin", "tenant": null, "authenticated": true });
    assert_eq!(json_body(response).await, expected);

    let response = send(&hub, None, get("/api/v1/whoami")).await;
    let expected = json!({ "identity": "anonymous", "role": "admin", "tenant": null, "authenticated": false });
    assert_eq!(json_body(response).await, expected);
}

#[tokio::test]
async fn the_trace_is_scoped_to_the_principal_and_accepts_a_query_token() {
    let hub = hub().await;
    let acme = spawn_in(&hub, "acme").await;

    // A token in the query is valid there (the layer reads it); this caller sees the agent.
    let own = principal("alice", Role::Viewer, Some("acme"));
    let uri = format!("/api/v1/trace?agent_id={acme}&access_token=secret-of-alice");
    let response = send(&hub, Some(own), get(&uri)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(outcome(&response).code, Code::Ok);

    // Another tenant's caller: the agent does not exist.
    let other = principal("mallory", Role::Admin, Some("globex"));
    let response = send(&hub, Some(other), get(&format!("/api/v1/trace?agent_id={acme}"))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(outcome(&response).code, Code::NotFound);
    assert_eq!(json_body(response).await["code"], "not_found");
}

#[tokio::test]
async fn refusals_before_the_call_carry_their_outcome() {
    let hub = hub().await;
    let request = Request::post("/agentry.v1.AgentHub/ListAgents")
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .expect("a request");
    let response = send(&hub, None, request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(outcome(&response).code, Code::Unknown);

    let response = send(&hub, None, unary("NoSuchMethod", &json!({}))).await;
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    let refused = outcome(&response);
    assert_eq!(refused.code, Code::Unimplemented);
    assert!(refused.message.contains("NoSuchMethod"), "{refused:?}");
}
