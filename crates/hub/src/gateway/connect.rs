//! Unary `AgentHub` calls as Connect unary JSON requests (<https://connectrpc.com/docs/protocol>,
//! "Unary-Request" / "Unary-Response"): `POST /agentry.v1.AgentHub/{Method}` with
//! `Content-Type: application/json` and the request message in canonical proto3 JSON (an empty
//! body is the empty message); `200` with the response message, or an error status with
//! `{"code": "<connect code>", "message": "..."}` (codes and HTTP statuses from the protocol's
//! error table). `Trace` is a stream: see [`super::sse`].

use std::future::Future;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Code;

use agentry_proto::v1::agent_hub_server::AgentHub;

use super::{Gateway, copy_metadata};
use crate::grpc::record_rpc;

/// Answers `POST /agentry.v1.AgentHub/{method}`.
pub async fn unary(
    State(gateway): State<Gateway>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (code, response) = dispatch(&gateway, &method, &headers, &body).await;
    let label = if code == Code::Unimplemented { "unknown".to_owned() } else { format!("AgentHub/{method}") };
    record_rpc(&gateway.metrics, &label, started, code);
    response
}

/// Calls `method` with `body`; returns the status code and the HTTP answer.
async fn dispatch(gateway: &Gateway, method: &str, headers: &HeaderMap, body: &[u8]) -> (Code, Response) {
    if let Some(refusal) = refuse_content_type(headers) {
        return refusal;
    }
    let api = &*gateway.api;
    match method {
        "Spawn" => call(headers, body, |request| api.spawn(request)).await,
        "SendMessage" => call(headers, body, |request| api.send_message(request)).await,
        "GetAgent" => call(headers, body, |request| api.get_agent(request)).await,
        "ListAgents" => call(headers, body, |request| api.list_agents(request)).await,
        "GetRun" => call(headers, body, |request| api.get_run(request)).await,
        "ListNodes" => call(headers, body, |request| api.list_nodes(request)).await,
        "CordonNode" => call(headers, body, |request| api.cordon_node(request)).await,
        "UncordonNode" => call(headers, body, |request| api.uncordon_node(request)).await,
        "DrainNode" => call(headers, body, |request| api.drain_node(request)).await,
        "CancelRun" => call(headers, body, |request| api.cancel_run(request)).await,
        "PauseRun" => call(headers, body, |request| api.pause_run(request)).await,
        "ResumeRun" => call(headers, body, |request| api.resume_run(request)).await,
        "GetCost" => call(headers, body, |request| api.get_cost(request)).await,
        "Approve" => call(headers, body, |request| api.approve(request)).await,
        "ListApprovals" => call(headers, body, |request| api.list_approvals(request)).await,
        "ImportTrace" => call(headers, body, |request| api.import_trace(request)).await,
        "ListTemplates" => call(headers, body, |request| api.list_templates(request)).await,
        "Fork" => call(headers, body, |request| api.fork(request)).await,
        "ListMessages" => call(headers, body, |request| api.list_messages(request)).await,
        "GetTree" => call(headers, body, |request| api.get_tree(request)).await,
        "Trace" => error(Code::Unimplemented, "Trace is a stream: GET /api/v1/trace (server-sent events)"),
        _ => error(Code::Unimplemented, &format!("agentry.v1.AgentHub has no method {method:?}")),
    }
}

/// Refuses a body that is not JSON (Connect's unary JSON codec is `application/json`).
fn refuse_content_type(headers: &HeaderMap) -> Option<(Code, Response)> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        return None;
    }
    let message = format!("content-type {content_type:?} is not supported: send application/json");
    Some((Code::Unknown, (StatusCode::UNSUPPORTED_MEDIA_TYPE, message).into_response()))
}

/// Decodes the request message from `body`, calls `method`, encodes its answer.
async fn call<Req, Resp, F, Fut>(headers: &HeaderMap, body: &[u8], method: F) -> (Code, Response)
where
    Req: DeserializeOwned + Default,
    Resp: Serialize,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    let message = if body.iter().all(u8::is_ascii_whitespace) {
        Req::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(message) => message,
            Err(decode) => {
                return error(Code::InvalidArgument, &format!("the request body is no valid message: {decode}"));
            }
        }
    };
    let mut request = tonic::Request::new(message);
    copy_metadata(headers, &mut request);
    match method(request).await {
        Ok(response) => match serde_json::to_vec(response.get_ref()) {
            Ok(json) => (Code::Ok, ([(header::CONTENT_TYPE, "application/json")], json).into_response()),
            Err(encode) => error(Code::Internal, &format!("encoding the response: {encode}")),
        },
        Err(status) => error(status.code(), status.message()),
    }
}

/// A Connect error: `{"code", "message"}` with the HTTP status of `code`.
fn error(code: Code, message: &str) -> (Code, Response) {
    let (name, status) = connect_code(code);
    let body = serde_json::json!({ "code": name, "message": message });
    (code, (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
}

/// Returns the Connect name and HTTP status of a gRPC code (the protocol's error-code table).
pub fn connect_code(code: Code) -> (&'static str, StatusCode) {
    let client_closed = StatusCode::from_u16(499).unwrap_or(StatusCode::REQUEST_TIMEOUT);
    match code {
        Code::Ok => ("ok", StatusCode::OK),
        Code::Cancelled => ("canceled", client_closed),
        Code::Unknown => ("unknown", StatusCode::INTERNAL_SERVER_ERROR),
        Code::InvalidArgument => ("invalid_argument", StatusCode::BAD_REQUEST),
        Code::DeadlineExceeded => ("deadline_exceeded", StatusCode::GATEWAY_TIMEOUT),
        Code::NotFound => ("not_found", StatusCode::NOT_FOUND),
        Code::AlreadyExists => ("already_exists", StatusCode::CONFLICT),
        Code::PermissionDenied => ("permission_denied", StatusCode::FORBIDDEN),
        Code::ResourceExhausted => ("resource_exhausted", StatusCode::TOO_MANY_REQUESTS),
        Code::FailedPrecondition => ("failed_precondition", StatusCode::BAD_REQUEST),
        Code::Aborted => ("aborted", StatusCode::CONFLICT),
        Code::OutOfRange => ("out_of_range", StatusCode::BAD_REQUEST),
        Code::Unimplemented => ("unimplemented", StatusCode::NOT_IMPLEMENTED),
        Code::Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
        Code::DataLoss => ("data_loss", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unauthenticated => ("unauthenticated", StatusCode::UNAUTHORIZED),
    }
}
