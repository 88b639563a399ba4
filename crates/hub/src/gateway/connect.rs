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
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Code;

use agentry_proto::v1::agent_hub_server::AgentHub;

use super::{Gateway, grpc_request};
use crate::audit::CallOutcome;
use crate::grpc::record_rpc;

/// Answers `POST /agentry.v1.AgentHub/{method}`. The request's extensions (the caller's
/// `Principal` and `AuditContext`, inserted by the authentication layer, and its connection
/// info) go with the call, as they do over gRPC; the answer carries its [`CallOutcome`] in its
/// extensions for the layer's audit record.
pub async fn unary(
    State(gateway): State<Gateway>,
    Path(method): Path<String>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let context = CallContext { headers: &headers, extensions, body: &body };
    let (outcome, mut response) = dispatch(&gateway, &method, context).await;
    let label = if outcome.code == Code::Unimplemented { "unknown".to_owned() } else { format!("AgentHub/{method}") };
    record_rpc(&gateway.metrics, &label, started, outcome.code);
    response.extensions_mut().insert(outcome);
    response
}

/// What a unary call is made of: the HTTP request's headers (metadata), its extensions (caller
/// context) and its body (the message).
struct CallContext<'a> {
    headers: &'a HeaderMap,
    extensions: Extensions,
    body: &'a [u8],
}

/// Calls `method` with the context's message; returns the outcome and the HTTP answer.
async fn dispatch(gateway: &Gateway, method: &str, context: CallContext<'_>) -> (CallOutcome, Response) {
    if let Some(refusal) = refuse_content_type(context.headers) {
        return refusal;
    }
    let api = &*gateway.api;
    match method {
        "Spawn" => call(context, |request| api.spawn(request)).await,
        "SendMessage" => call(context, |request| api.send_message(request)).await,
        "GetAgent" => call(context, |request| api.get_agent(request)).await,
        "ListAgents" => call(context, |request| api.list_agents(request)).await,
        "GetRun" => call(context, |request| api.get_run(request)).await,
        "ListNodes" => call(context, |request| api.list_nodes(request)).await,
        "CordonNode" => call(context, |request| api.cordon_node(request)).await,
        "UncordonNode" => call(context, |request| api.uncordon_node(request)).await,
        "DrainNode" => call(context, |request| api.drain_node(request)).await,
        "CancelRun" => call(context, |request| api.cancel_run(request)).await,
        "PauseRun" => call(context, |request| api.pause_run(request)).await,
        "ResumeRun" => call(context, |request| api.resume_run(request)).await,
        "GetCost" => call(context, |request| api.get_cost(request)).await,
        "Approve" => call(context, |request| api.approve(request)).await,
        "ListApprovals" => call(context, |request| api.list_approvals(request)).await,
        "ImportTrace" => call(context, |request| api.import_trace(request)).await,
        "ListTemplates" => call(context, |request| api.list_templates(request)).await,
        "Fork" => call(context, |request| api.fork(request)).await,
        "ListMessages" => call(context, |request| api.list_messages(request)).await,
        "GetTree" => call(context, |request| api.get_tree(request)).await,
        "ListAudit" => call(context, |request| api.list_audit(request)).await,
        "WhoAmI" => call(context, |request| api.who_am_i(request)).await,
        "Trace" => error(Code::Unimplemented, "Trace is a stream: GET /api/v1/trace (server-sent events)"),
        _ => error(Code::Unimplemented, &format!("agentry.v1.AgentHub has no method {method:?}")),
    }
}

/// Refuses a body that is not JSON (Connect's unary JSON codec is `application/json`).
fn refuse_content_type(headers: &HeaderMap) -> Option<(CallOutcome, Response)> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        return None;
    }
    let message = format!("content-type {content_type:?} is not supported: send application/json");
    let response = (StatusCode::UNSUPPORTED_MEDIA_TYPE, message.clone()).into_response();
    Some((CallOutcome { code: Code::Unknown, message }, response))
}

/// Decodes the request message from the context's body, calls `method` with it and the
/// context's metadata and extensions, encodes its answer.
async fn call<Req, Resp, F, Fut>(context: CallContext<'_>, method: F) -> (CallOutcome, Response)
where
    Req: DeserializeOwned + Default,
    Resp: Serialize,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    let message = if context.body.iter().all(u8::is_ascii_whitespace) {
        Req::default()
    } else {
        match serde_json::from_slice(context.body) {
            Ok(message) => message,
            Err(decode) => {
                return error(Code::InvalidArgument, &format!("the request body is no valid message: {decode}"));
            }
        }
    };
    let request = grpc_request(message, context.headers, context.extensions);
    match method(request).await {
        Ok(response) => match serde_json::to_vec(response.get_ref()) {
            Ok(json) => {
                let ok = CallOutcome { code: Code::Ok, message: String::new() };
                (ok, ([(header::CONTENT_TYPE, "application/json")], json).into_response())
            }
            Err(encode) => error(Code::Internal, &format!("encoding the response: {encode}")),
        },
        Err(status) => error(status.code(), status.message()),
    }
}

/// A Connect error: `{"code", "message"}` with the HTTP status of `code`.
fn error(code: Code, message: &str) -> (CallOutcome, Response) {
    (CallOutcome { code, message: message.to_owned() }, error_response(code, message))
}

/// Returns the Connect error response of `code` and `message`.
pub fn error_response(code: Code, message: &str) -> Response {
    let (name, status) = connect_code(code);
    let body = serde_json::json!({ "code": name, "message": message });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
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
