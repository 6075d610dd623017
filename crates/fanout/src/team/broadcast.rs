//! The leader's model of a team in [`TeamMode::Broadcast`](super::TeamMode::Broadcast): its
//! first turn after the user's message calls every member with that message, without asking
//! the model; every later turn is the model's.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, stream};

use crate::error::Result;
use crate::model::{DeltaStream, FinishReason, Message, Model, ModelDelta, ModelRequest, ModelResponse};
use crate::tool::ToolCall;

/// Wraps the leader's model (see the module).
#[derive(Debug)]
pub(super) struct Broadcast {
    pub(super) model: Arc<dyn Model>,
    /// The members' tool names.
    pub(super) members: Vec<String>,
}

impl Broadcast {
    /// The calls of the broadcast turn, when this request is one: the conversation ends with
    /// the user's message.
    fn calls(&self, request: &ModelRequest) -> Option<Vec<ToolCall>> {
        let Some(Message::User { content }) = request.messages.last() else { return None };
        let arguments = serde_json::json!({ "task": content }).to_string();
        let calls = self
            .members
            .iter()
            .map(|name| ToolCall::new(crate::model::new_call_id(), name.clone(), arguments.clone()))
            .collect();
        Some(calls)
    }
}

impl Model for Broadcast {
    fn id(&self) -> &str {
        self.model.id()
    }

    fn provider(&self) -> &'static str {
        self.model.provider()
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<ModelResponse>> {
        match self.calls(request) {
            Some(tool_calls) => Box::pin(std::future::ready(Ok(ModelResponse {
                content: None,
                reasoning: None,
                tool_calls,
                usage: None,
                finish_reason: Some(FinishReason::ToolCalls),
                replay: None,
                id: None,
                model: None,
            }))),
            None => self.model.complete(request),
        }
    }

    fn stream<'a>(&'a self, request: &'a ModelRequest) -> DeltaStream<'a> {
        match self.calls(request) {
            Some(calls) => {
                let deltas = calls
                    .into_iter()
                    .enumerate()
                    .map(|(index, call)| Ok(ModelDelta::ToolCall { index, call }))
                    .chain([Ok(ModelDelta::Finish(FinishReason::ToolCalls))]);
                stream::iter(deltas).boxed()
            }
            None => self.model.stream(request),
        }
    }
}
