//! The idempotency key of the tool call being run, for tools with side effects that a durable
//! run may repeat: a call interrupted by a crash runs again, and a tool that passes its key to
//! the system it changes (a payment API, an `INSERT … ON CONFLICT DO NOTHING`) makes the second
//! attempt a no-op.
//!
//! Whoever runs the calls durably sets an idempotency *scope* around the executor with
//! [`with_idempotency_scope`] (fanout-restate uses the Restate invocation id of the run); each
//! call then gets the key `{scope}/{call id}`, the same on every attempt. Outside a scope there
//! is no key.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    /// The scope set by [`with_idempotency_scope`].
    static SCOPE: Arc<str>;
    /// The key of the call running in this task (set by the executor).
    static KEY: Arc<str>;
}

thread_local! {
    /// The key of the blocking call running on this thread (set by the executor).
    static THREAD_KEY: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The idempotency key of the tool call this code runs in: `{scope}/{call id}`, stable across
/// the attempts of a durable run. `None` outside a call, or when the run set no scope (see
/// [`with_idempotency_scope`]). Works in async tools (their `invoke` and their future) and in
/// blocking tools (on their thread).
///
/// ```
/// use fanout::tool::{idempotency_key, with_idempotency_scope};
/// use fanout::exec::{ExecLimits, Executor};
/// use fanout::tool::{ToolCall, ToolSet};
///
/// /// Charge the customer once, however often the call is attempted
/// #[fanout::tool]
/// async fn charge(cents: u64) -> String {
///     let key = idempotency_key().unwrap_or_default();
///     format!("charged {cents} with key {key}") // e.g. send `Idempotency-Key: {key}`
/// }
///
/// # #[tokio::main] async fn main() -> fanout::Result<()> {
/// let executor = Executor::new(ToolSet::new(fanout::tools![charge])?.into(), ExecLimits::default());
/// let calls = [ToolCall::new("call_1", "charge", r#"{"cents": 500}"#)];
/// let results = with_idempotency_scope("run-42", executor.run(&calls, &mut |_| {})).await;
/// assert_eq!(results[0].result.as_deref(), Ok("charged 500 with key run-42/call_1"));
/// # Ok(()) }
/// ```
pub fn idempotency_key() -> Option<String> {
    KEY.try_with(|key| key.to_string())
        .ok()
        .or_else(|| THREAD_KEY.with(|key| key.borrow().as_deref().map(str::to_owned)))
}

/// Run `fut` with idempotency scope `scope`: every tool call the executor starts inside it gets
/// the key `{scope}/{call id}` ([`idempotency_key`]). Use a value that identifies the run across
/// restarts (a durable run's id, a workflow invocation id).
pub async fn with_idempotency_scope<F: Future>(scope: impl Into<String>, fut: F) -> F::Output {
    SCOPE.scope(Arc::from(scope.into()), fut).await
}

/// Whether an idempotency scope is set around this code.
pub(crate) fn has_scope() -> bool {
    SCOPE.try_with(|_| ()).is_ok()
}

/// The key of a call with id `call_id` started now, if a scope is set.
pub(crate) fn key_for(call_id: &str) -> Option<Arc<str>> {
    SCOPE.try_with(|scope| Arc::from(format!("{scope}/{call_id}"))).ok()
}

/// Run `fut` (a call's task) with its key, if it has one.
pub(crate) async fn scope<F: Future>(key: Option<Arc<str>>, fut: F) -> F::Output {
    match key {
        Some(key) => KEY.scope(key, fut).await,
        None => fut.await,
    }
}

/// The key of the call running in this task, to hand to its blocking thread.
pub(crate) fn current() -> Option<Arc<str>> {
    KEY.try_with(Arc::clone).ok()
}

/// Run `f` (a blocking call, on its thread) with its key, if it has one.
pub(crate) fn on_thread<R>(key: Option<Arc<str>>, f: impl FnOnce() -> R) -> R {
    let Some(key) = key else { return f() };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            THREAD_KEY.with(|slot| slot.borrow_mut().take());
        }
    }
    THREAD_KEY.with(|slot| *slot.borrow_mut() = Some(key));
    let _reset = Reset;
    f()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::exec::{ExecLimits, Executor};
    use crate::tool::{ToolCall, ToolSet};

    /// Report the key seen on the blocking thread
    #[crate::tool]
    fn key_on_thread() -> String {
        idempotency_key().unwrap_or_else(|| "none".into())
    }

    /// Report the key seen in the task
    #[crate::tool]
    async fn key_in_task() -> String {
        idempotency_key().unwrap_or_else(|| "none".into())
    }

    #[tokio::test]
    async fn each_call_gets_its_own_key_in_tasks_and_on_threads_and_none_outside_a_scope() {
        let tools = ToolSet::new(crate::tools![key_on_thread, key_in_task]).unwrap();
        let executor = Executor::new(Arc::new(tools), ExecLimits::default());
        let calls = [ToolCall::new("a", "key_on_thread", "{}"), ToolCall::new("b", "key_in_task", "{}")];
        let results = with_idempotency_scope("inv_1", executor.run(&calls, &mut |_| {})).await;
        let keys: Vec<_> = results.iter().map(|r| r.result.clone().unwrap()).collect();
        assert_eq!(keys, ["inv_1/a", "inv_1/b"]);
        let results = executor.run(&calls, &mut |_| {}).await;
        let keys: Vec<_> = results.iter().map(|r| r.result.clone().unwrap()).collect();
        assert_eq!(keys, ["none", "none"]);
        assert_eq!(idempotency_key(), None);
    }
}
