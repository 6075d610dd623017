//! A2A's JSON-RPC binding (spec §9): `POST /a2a/agents/{id}` with a JSON-RPC 2.0 request whose
//! method is one of A2A's (`SendMessage`, `SendStreamingMessage`, `GetTask`, `CancelTask`,
//! `ListTasks`), answered by the same operations as the HTTP+JSON routes. Errors are JSON-RPC
//! error objects with HTTP status 200 (404 for an unknown agent).
//!
//! A2A 0.3's methods (`message/send`, `message/stream`, `tasks/get`, `tasks/cancel`) are served
//! too, in 0.3's shapes ([`v03`]), here and at Agno's paths (`…/v1/message:send` …).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{A2aError, Kind};
use super::events::Binding;
use super::{Answer, Mode, check_version, json_body, request, v03};
use crate::State as ServerState;

/// A JSON-RPC request's `id`: a string, a number or null (anything else is no request).
fn request_id(request: &serde_json::Map<String, Value>) -> Option<Value> {
    match request.get("id") {
        None => Some(Value::Null),
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(id.clone()),
        Some(_) => None,
    }
}

fn error_response(id: &Value, err: &A2aError) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": err.rpc_error()});
    (err.rpc_status(), axum::Json(body)).into_response()
}

/// `POST /a2a/agents/{id}`: one JSON-RPC call.
pub(super) async fn call(
    State(state): State<Arc<ServerState>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request = match json_body(body) {
        Ok(Value::Object(request)) => request,
        Ok(_) => {
            let err = A2aError::new(
                Kind::InvalidRequest,
                "A JSON-RPC request must be an object (batches are not supported)",
            );
            return error_response(&Value::Null, &err);
        }
        Err(err) => return error_response(&Value::Null, &err),
    };
    let Some(id) = request_id(&request) else {
        let err = A2aError::new(Kind::InvalidRequest, "`id` must be a string, a number or null");
        return error_response(&Value::Null, &err);
    };
    let method =
        match (request.get("jsonrpc").and_then(Value::as_str), request.get("method").and_then(Value::as_str))
        {
            (Some("2.0"), Some(method)) => method.to_owned(),
            _ => {
                let err = A2aError::new(
                    Kind::InvalidRequest,
                    "Not a JSON-RPC 2.0 request (`jsonrpc`: \"2.0\", `method`)",
                );
                return error_response(&id, &err);
            }
        };
    // A 0.3 method name says the client speaks 0.3 (it sends no version header).
    let (method, legacy) = match legacy_method(&method) {
        Some(method) => (method.to_owned(), true),
        None => (method, false),
    };
    let params = request.get("params").cloned().unwrap_or_else(|| json!({}));
    let answer = async {
        let Path(agent_id) = path?;
        if !legacy {
            check_version(&headers, query.as_deref())?;
        }
        if !params.is_object() {
            return Err(A2aError::new(Kind::InvalidParams, "`params` must be an object"));
        }
        match method.as_str() {
            "SendMessage" => {
                let message = request::send_message(&params)?;
                let mode = if message.return_immediately { Mode::Immediately } else { Mode::Blocking };
                super::send(&state, &agent_id, message, mode).await
            }
            "SendStreamingMessage" => {
                let message = request::send_message(&params)?;
                let binding =
                    if legacy { Binding::JsonRpcV03(id.clone()) } else { Binding::JsonRpc(id.clone()) };
                super::send(&state, &agent_id, message, Mode::Stream(binding)).await
            }
            "GetTask" => {
                let task_id = task_id(&params)?;
                let history_length = request::count(params.get("historyLength"), "historyLength")?;
                super::get_task(&state, &agent_id, &task_id, history_length).await.map(Answer::Json)
            }
            "CancelTask" => {
                let task_id = task_id(&params)?;
                super::cancel_task(&state, &agent_id, &task_id).await.map(Answer::Json)
            }
            "ListTasks" => super::list_tasks(&state, &agent_id, &params).await.map(Answer::Json),
            "SubscribeToTask" => {
                let task_id = task_id(&params)?;
                let binding =
                    if legacy { Binding::JsonRpcV03(id.clone()) } else { Binding::JsonRpc(id.clone()) };
                super::subscribe(&state, &agent_id, &task_id, binding).await
            }
            _ => Err(A2aError::new(Kind::MethodNotFound, "Method not found")),
        }
    }
    .await;
    match answer {
        Ok(Answer::Json(result)) => {
            let result = match (legacy, method.as_str()) {
                (false, _) => result,
                (true, "SendMessage") => v03::send_result(&result),
                (true, _) => v03::task(&result),
            };
            (StatusCode::OK, axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})))
                .into_response()
        }
        Ok(Answer::Stream(response)) => response,
        Err(err) => error_response(&id, &err),
    }
}

/// The 1.0 name of an A2A 0.3 method.
fn legacy_method(method: &str) -> Option<&'static str> {
    match method {
        "message/send" => Some("SendMessage"),
        "message/stream" => Some("SendStreamingMessage"),
        "tasks/get" => Some("GetTask"),
        "tasks/cancel" => Some("CancelTask"),
        "tasks/resubscribe" => Some("SubscribeToTask"),
        _ => None,
    }
}

/// The task id of `GetTask` and `CancelTask` (`id`).
fn task_id(params: &Value) -> Result<String, A2aError> {
    request::id(params.get("id"), "id")?
        .ok_or_else(|| A2aError::new(Kind::InvalidParams, "`id` (the task's) is required"))
}
