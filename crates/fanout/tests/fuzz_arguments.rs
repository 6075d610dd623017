//! Property tests for the untrusted argument text a model sends: whatever it is, a call ends
//! with a result or a precise error — never a panic, never a hang.
//!
//! CI runs the default case count; a long run: `PROPTEST_CASES=1000000 cargo test --release
//! -p fanout --test fuzz_arguments`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use fanout::exec::{ExecLimits, Executor};
use fanout::tool::{FunctionTool, Tool, ToolCall, ToolError, ToolSet};
use proptest::prelude::*;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Args {
    delay: u64,
    label: Option<String>,
    ratio: f64,
    tags: Vec<String>,
    mode: Mode,
    nested: Nested,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Fast,
    Slow,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Nested {
    flag: bool,
}

fn executor() -> Executor {
    let tool = FunctionTool::new("t", "test", |args: Args| async move { Ok(format!("{args:?}")) });
    let set = ToolSet::new([Arc::new(tool) as Arc<dyn Tool>]).unwrap();
    Executor::new(Arc::new(set), ExecLimits::default())
}

/// Text that is often JSON-shaped: fragments of a valid argument object, mutated.
fn argument_text() -> impl Strategy<Value = String> {
    let valid = r#"{"delay": 3, "label": "x", "ratio": 0.5, "tags": ["a"], "mode": "fast", "nested": {"flag": true}}"#;
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,0-9a-z ._\\-\\\\]{0,64}",
        (0..valid.len(), 0..valid.len()).prop_map(move |(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            format!("{}{}", &valid[..a], &valid[b..])
        }),
        (0..valid.len(), any::<char>()).prop_map(move |(at, c)| {
            let mut s = valid.to_owned();
            if s.is_char_boundary(at) {
                s.insert(at, c);
            }
            s
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_argument_text_gives_a_result_or_a_precise_error(text in argument_text()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let executions = runtime.block_on(executor().run(&[ToolCall::new("1", "t", text.clone())], &mut |_| {}));
        prop_assert_eq!(executions.len(), 1);
        match &executions[0].result {
            Ok(out) => prop_assert!(out.starts_with("Args")),
            Err(ToolError::InvalidJson(msg)) => prop_assert!(!msg.is_empty()),
            Err(ToolError::InvalidArguments(msg)) => prop_assert!(!msg.is_empty()),
            Err(other) => prop_assert!(false, "unexpected error for {:?}: {}", text, other),
        }
    }
}
