//! A2A 0.3's JSON-RPC shapes, for clients that still speak it (Agno's `A2AClient`, the 0.x
//! SDKs): the 1.0 answers rewritten — `kind` on every object and part, states and roles in
//! lower case (`input-required`, `agent`), a send's result the task itself, stream events flat
//! with `final` on the last status update. Requests need no rewriting: the 1.0 reader takes
//! 0.3's `"role": "user"`, `"kind": "text"` parts and `configuration.blocking`.

use serde_json::{Map, Value, json};

/// A 1.0 `TaskState` name in 0.3 (`TASK_STATE_INPUT_REQUIRED` → `input-required`).
fn state(state: &Value) -> Value {
    match state.as_str().and_then(|s| s.strip_prefix("TASK_STATE_")) {
        Some(name) => json!(name.to_lowercase().replace('_', "-")),
        None => state.clone(),
    }
}

/// A part: `kind` added; a data part's data is an object in 0.3 (other values are wrapped
/// as `{"value": …}`).
fn part(part: &Value) -> Value {
    let mut out = Map::new();
    if let Some(text) = part.get("text") {
        out.insert("kind".into(), json!("text"));
        out.insert("text".into(), text.clone());
    } else if let Some(data) = part.get("data") {
        out.insert("kind".into(), json!("data"));
        let data = if data.is_object() { data.clone() } else { json!({"value": data}) };
        out.insert("data".into(), data);
    }
    if let Some(metadata) = part.get("metadata") {
        out.insert("metadata".into(), metadata.clone());
    }
    Value::Object(out)
}

fn parts(parts: Option<&Value>) -> Value {
    Value::Array(parts.and_then(Value::as_array).map(|p| p.iter().map(part).collect()).unwrap_or_default())
}

/// A message: `kind`, lower-case role, its parts.
fn message(message: &Value) -> Value {
    let mut out = message.clone();
    out["kind"] = json!("message");
    out["role"] = match message.get("role").and_then(Value::as_str) {
        Some("ROLE_USER") => json!("user"),
        _ => json!("agent"),
    };
    out["parts"] = parts(message.get("parts"));
    out
}

/// A `TaskStatus`: its state and message.
fn status(status: &Value) -> Value {
    let mut out = status.clone();
    if let Some(s) = status.get("state") {
        out["state"] = state(s);
    }
    if let Some(m) = status.get("message") {
        out["message"] = message(m);
    }
    out
}

fn artifact(artifact: &Value) -> Value {
    let mut out = artifact.clone();
    out["parts"] = parts(artifact.get("parts"));
    out
}

/// A `Task`.
pub(crate) fn task(task: &Value) -> Value {
    let mut out = task.clone();
    out["kind"] = json!("task");
    if let Some(s) = task.get("status") {
        out["status"] = status(s);
    }
    if let Some(history) = task.get("history").and_then(Value::as_array) {
        out["history"] = history.iter().map(message).collect();
    }
    if let Some(artifacts) = task.get("artifacts").and_then(Value::as_array) {
        out["artifacts"] = artifacts.iter().map(artifact).collect();
    }
    out
}

/// A `SendMessageResponse`: its task.
pub(crate) fn send_result(response: &Value) -> Value {
    response.get("task").map(task).unwrap_or_else(|| response.clone())
}

/// A `StreamResponse` as 0.3's stream event: the task, a `status-update` (`final` once the task
/// ended or waits for input) or an `artifact-update`.
pub(crate) fn stream_event(response: &Value) -> Value {
    if let Some(t) = response.get("task") {
        return task(t);
    }
    if let Some(update) = response.get("statusUpdate") {
        let mut out = update.clone();
        out["kind"] = json!("status-update");
        if let Some(s) = update.get("status") {
            out["status"] = status(s);
        }
        let state = update.pointer("/status/state").and_then(Value::as_str).unwrap_or_default();
        out["final"] = json!(!matches!(state, "TASK_STATE_SUBMITTED" | "TASK_STATE_WORKING"));
        return out;
    }
    if let Some(update) = response.get("artifactUpdate") {
        let mut out = update.clone();
        out["kind"] = json!("artifact-update");
        if let Some(a) = update.get("artifact") {
            out["artifact"] = artifact(a);
        }
        return out;
    }
    response.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_roles_and_parts_in_0_3() {
        let task = send_result(&json!({"task": {"id": "t", "status": {"state": "TASK_STATE_INPUT_REQUIRED",
            "message": {"role": "ROLE_AGENT", "parts": [{"text": "ok?"}, {"data": [1], "mediaType": "application/json"}]}}}}));
        assert_eq!(task["kind"], "task");
        assert_eq!(task["status"]["state"], "input-required");
        assert_eq!(task["status"]["message"]["role"], "agent");
        assert_eq!(task["status"]["message"]["parts"][0], json!({"kind": "text", "text": "ok?"}));
        assert_eq!(task["status"]["message"]["parts"][1], json!({"kind": "data", "data": {"value": [1]}}));
        let done = stream_event(&json!({"statusUpdate": {"status": {"state": "TASK_STATE_COMPLETED"}}}));
        assert_eq!((done["kind"].clone(), done["final"].clone()), (json!("status-update"), json!(true)));
    }
}
