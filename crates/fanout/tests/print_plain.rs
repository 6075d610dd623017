//! Snapshots of the plain-text output (not a terminal, or NO_COLOR) for the seed flow at three
//! widths. `UPDATE_SNAPSHOTS=1 cargo test -p fanout --test print_plain` rewrites them.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use fanout::EventKind;
use fanout::ToolExecution;
use fanout::print::{Mode, PrintOptions, Printer};
use fanout::tool::{ToolCall, ToolError};
use std::time::SystemTime;

/// The seed run as events: three calls of 3 s (one failing), then the markdown answer.
async fn seed_events(printer: &mut Printer<Vec<u8>>) {
    printer.start("Please run all tasks with a delay of 3s").unwrap();
    let start = SystemTime::now();
    let calls: Vec<ToolCall> = [2, 1, 3]
        .iter()
        .enumerate()
        .map(|(i, n)| ToolCall::new(format!("call_{i}"), format!("atask{n}"), r#"{"delay":3}"#))
        .collect();
    for (index, call) in calls.iter().enumerate() {
        let at = Duration::from_millis(10 * index as u64);
        printer.event(&EventKind::ToolCallStarted { turn: 0, index, call: call.clone(), at }).unwrap();
    }
    printer
        .event(&EventKind::ModelTurnCompleted {
            turn: 0,
            tool_calls: 3,
            usage: None,
            finish_reason: None,
            duration: Duration::from_millis(300),
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (index, call) in calls.iter().enumerate() {
        let result = if index == 2 {
            Err(ToolError::Failed("the disk is full\nand more".into()))
        } else {
            Ok(format!("Task {} completed in 3.00s", &call.name[5..]))
        };
        let execution = ToolExecution {
            call: call.clone(),
            result,
            started_at: start + Duration::from_millis(10 * index as u64),
            waited: Duration::ZERO,
            duration: Duration::from_millis(3000 - 500 * index as u64),
        };
        printer.event(&EventKind::ToolCallCompleted { turn: 0, index, execution }).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answer = "All tasks have finished.\n\n| # | result |\n|---|---|\n| 1 | Task 1 completed in 3.00s |\n\
                  | 2 | Task 2 completed in 3.00s |\n\n- one **bold** point that is long enough to wrap on a narrow terminal\n\n```sh\ncargo run --example async_tools\n```\n\nDone.";
    for piece in answer.split_inclusive(' ') {
        printer.event(&EventKind::ContentDelta(piece.to_owned())).unwrap();
    }
    printer.finish().unwrap();
}

fn check(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {name}: run with UPDATE_SNAPSHOTS=1 and review it"));
    assert_eq!(actual, expected, "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)");
}

#[tokio::test(start_paused = true)]
async fn seed_flow_in_plain_text_at_three_widths() {
    for width in [60, 90, 160] {
        let mut options = PrintOptions::default();
        options.width = Some(width);
        options.mode = Some(Mode::Plain);
        let mut printer = Printer::new(Vec::new(), options);
        seed_events(&mut printer).await;
        let output = String::from_utf8(printer.into_inner()).unwrap();
        assert!(!output.contains('\x1b'), "no escape codes in plain mode");
        for line in output.lines().filter(|l| l.starts_with(['┏', '┃', '┗'])) {
            assert_eq!(line.chars().count(), width, "{line:?}");
        }
        check(&format!("seed_plain_{width}.txt"), &output);
    }
}

#[tokio::test(start_paused = true)]
async fn reasoning_gets_its_own_panel_and_show_result_prints_results() {
    let mut options = PrintOptions::default();
    options.width = Some(50);
    options.mode = Some(Mode::Plain);
    options.show_results_for.insert("lookup".into());
    let mut printer = Printer::new(Vec::new(), options);
    printer.start("Why?").unwrap();
    let call = ToolCall::new("c1", "lookup", r#"{"key":"a"}"#);
    printer
        .event(&EventKind::ToolCallStarted { turn: 0, index: 0, call: call.clone(), at: Duration::ZERO })
        .unwrap();
    let execution = ToolExecution {
        call,
        result: Ok("value of a\nsecond line".into()),
        started_at: SystemTime::now(),
        waited: Duration::ZERO,
        duration: Duration::from_millis(5),
    };
    printer.event(&EventKind::ToolCallCompleted { turn: 0, index: 0, execution }).unwrap();
    let done = EventKind::ModelTurnCompleted {
        turn: 0,
        tool_calls: 1,
        usage: None,
        finish_reason: None,
        duration: Duration::ZERO,
    };
    printer.event(&done).unwrap();
    printer.event(&EventKind::ReasoningDelta("Thinking it over.".into())).unwrap();
    printer.event(&EventKind::ContentDelta("Because.".into())).unwrap();
    printer.finish().unwrap();
    let output = String::from_utf8(printer.into_inner()).unwrap();
    assert!(output.contains("┃ ✓ lookup(key=\"a\")  0.01s"), "{output}");
    assert!(output.contains("┃     value of a"), "{output}");
    assert!(output.contains("┃     second line"), "{output}");
    let reasoning = output.find("┏━ Reasoning").unwrap();
    let response = output.find("┏━ Response").unwrap();
    assert!(reasoning < response);
    assert!(output.contains("┃ Thinking it over."), "{output}");
}

/// Progress reported by a running call (an MCP server's, say) shows as a bar on its line; a
/// retried turn says so and starts its calls over, the cancelled ones included.
#[tokio::test(start_paused = true)]
async fn progress_bars_and_retries_are_drawn() {
    let mut options = PrintOptions::default();
    options.width = Some(80);
    options.height = Some(40);
    options.mode = Some(Mode::Live);
    let mut printer = Printer::new(Vec::new(), options);
    printer.start("go").unwrap();
    let call = ToolCall::new("c1", "long_operation", r#"{"steps":4}"#);
    let started = EventKind::ToolCallStarted { turn: 0, index: 0, call: call.clone(), at: Duration::ZERO };
    printer.event(&started).unwrap();
    let progress = EventKind::ToolCallProgress {
        turn: 0,
        index: 0,
        progress: 2.0,
        total: Some(4.0),
        message: Some("step 2\x1b[2J".into()),
    };
    printer.event(&progress).unwrap();
    printer.tick().unwrap();
    let cancelled = EventKind::ToolCallCancelled {
        turn: 0,
        index: 0,
        call: call.clone(),
        reason: "the turn is retried".into(),
    };
    printer.event(&cancelled).unwrap();
    let error = fanout::Error::status_error("openai", 503, "down");
    let retry = EventKind::ModelRetry {
        turn: 0,
        retry: 1,
        max_retries: 2,
        wait: Duration::from_millis(500),
        error: std::sync::Arc::new(error),
    };
    printer.event(&retry).unwrap();
    printer.tick().unwrap();
    printer.event(&started).unwrap();
    let execution = ToolExecution {
        call,
        result: Ok("done".into()),
        started_at: SystemTime::now(),
        waited: Duration::ZERO,
        duration: Duration::from_millis(5),
    };
    printer.event(&EventKind::ToolCallCompleted { turn: 0, index: 0, execution }).unwrap();
    printer.finish().unwrap();
    let output = String::from_utf8(printer.into_inner()).unwrap();
    assert!(output.contains("[█████░░░░░] 2/4 step 2␛[2J"), "{output}");
    assert!(output.contains("↻ retry 1 of 2 in 0.5s: openai API error 503: down"), "{output}");
    assert!(output.contains("✓\x1b[0m long_operation(steps=4)"), "the retried call ran: {output}");
    assert!(!output.contains("\x1b[2J"), "the tool's text stays inert");
}

/// A structured answer is shown as its value, pretty-printed: not the prose around it, not an
/// answer a repair turn replaced, and the model's control characters stay escaped.
#[tokio::test]
async fn a_structured_answer_is_shown_pretty_printed() {
    use fanout::models::scripted::{ScriptedModel, Turn};
    use fanout::prelude::*;
    use futures::StreamExt;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Answer {
        name: String,
        tags: Vec<String>,
    }
    let model = ScriptedModel::new([
        Turn::text("first try \x1b[31m"),
        Turn::text("Sure:\n```json\n{\"name\": \"x\\u001b[2J\", \"tags\": [\"a\", \"b\"]}\n```"),
    ]);
    let agent = Agent::builder().model(model).output_schema::<Answer>().build().unwrap();
    let mut options = PrintOptions::default();
    options.width = Some(60);
    options.mode = Some(Mode::Plain);
    let mut printer = Printer::new(Vec::new(), options);
    printer.start("go").unwrap();
    let mut events = agent.run("go").stream().map(|e| e.map(|e| e.kind));
    while let Some(event) = events.next().await {
        printer.event(&event.unwrap()).unwrap();
    }
    printer.finish().unwrap();
    let output = String::from_utf8(printer.into_inner()).unwrap();
    assert!(!output.contains('\x1b'), "{output:?}");
    assert!(!output.contains("Sure:") && !output.contains("first try"), "{output}");
    assert!(output.contains("┃     \"name\": \"x\\u001b[2J\","), "{output}");
    assert!(output.contains("┃       \"a\","), "{output}");
}
