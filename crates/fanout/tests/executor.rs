//! The executor on its own: concurrency, ordering, events, isolation of every failure mode,
//! limits and cancellation. Async timing runs on tokio's paused clock; blocking tools sleep for
//! real, with generous bounds.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod support;

use fanout::exec::{ExecLimits, Executor, ToolEvent};
use fanout::tool::{FunctionTool, Invocation, Tool, ToolCall, ToolDefinition, ToolError, ToolExt, ToolSet};
use serde_json::{Value, json};
use tokio::time::Instant;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Sleep {
    /// Milliseconds
    ms: u64,
}

fn sleeper() -> FunctionTool<Sleep> {
    FunctionTool::new("sleep", "Sleep on the runtime", |a: Sleep| async move {
        tokio::time::sleep(Duration::from_millis(a.ms)).await;
        Ok(format!("slept {}", a.ms))
    })
}

fn blocking_sleeper() -> FunctionTool<Sleep> {
    FunctionTool::blocking("block", "Sleep on a thread", |a: Sleep| {
        std::thread::sleep(Duration::from_millis(a.ms));
        Ok(format!("blocked {}", a.ms))
    })
}

/// A hand-written tool whose `invoke` itself panics.
struct Exploding;

impl Tool for Exploding {
    fn definition(&self) -> Arc<ToolDefinition> {
        Arc::new(ToolDefinition {
            name: "explode".into(),
            description: "Panics".into(),
            parameters: json!({}),
            strict: false,
        })
    }
    fn invoke(self: Arc<Self>, _args: Value) -> Invocation {
        panic!("boom in invoke")
    }
}

fn executor(limits: ExecLimits, extra: Vec<Arc<dyn Tool>>) -> Executor {
    let failing =
        FunctionTool::new("fail", "Fails", |_: Value| async { Err(ToolError::failed("disk full")) });
    let panicking = FunctionTool::new("panic", "Panics", |_: Value| async { panic!("async boom") });
    let panicking_sync = FunctionTool::blocking("panic_sync", "Panics", |_: Value| panic!("sync boom"));
    let mut tools: Vec<Arc<dyn Tool>> = vec![
        Arc::new(sleeper()),
        Arc::new(blocking_sleeper()),
        Arc::new(failing),
        Arc::new(panicking),
        Arc::new(panicking_sync),
        Arc::new(Exploding),
    ];
    tools.extend(extra);
    Executor::new(Arc::new(ToolSet::new(tools).unwrap()), limits)
}

fn call(id: usize, name: &str, args: &str) -> ToolCall {
    ToolCall::new(format!("call_{id}"), name, args)
}

fn sleeps(ms: &[u64]) -> Vec<ToolCall> {
    ms.iter().enumerate().map(|(i, ms)| call(i, "sleep", &format!(r#"{{"ms": {ms}}}"#))).collect()
}

#[tokio::test(start_paused = true)]
async fn three_async_tools_of_three_seconds_overlap() {
    let start = Instant::now();
    let results =
        executor(ExecLimits::default(), vec![]).run(&sleeps(&[3000, 3000, 3000]), &mut |_| {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(results.iter().all(|r| r.result.as_deref() == Ok("slept 3000")));
}

#[tokio::test(start_paused = true)]
async fn a_thousand_async_tools_finish_in_about_one_second() {
    let start = Instant::now();
    let results = executor(ExecLimits::default(), vec![]).run(&sleeps(&[1000; 1000]), &mut |_| {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(results.len(), 1000);
    assert!(results.iter().enumerate().all(|(i, r)| r.call.id == format!("call_{i}") && r.result.is_ok()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_tools_each_get_a_thread() {
    // 3, then 64 blocking calls that can only finish once all of them are running at the same
    // time: not limited by the 2 worker threads or a small pool, whatever the machine's speed.
    for n in [3, 64] {
        let meeting = support::Rendezvous::new(n);
        let tool = FunctionTool::blocking("meet", "Wait for the others", move |_: Value| {
            meeting.meet().map(|()| "met".to_owned()).map_err(ToolError::Failed)
        });
        let exec = Executor::new(
            ToolSet::new(vec![Arc::new(tool) as Arc<dyn Tool>]).unwrap().into(),
            ExecLimits::default(),
        );
        let calls: Vec<ToolCall> = (0..n).map(|i| call(i, "meet", "{}")).collect();
        let results = exec.run(&calls, &mut |_| {}).await;
        assert!(results.iter().all(|r| r.result.as_deref() == Ok("met")), "{:?}", results[0].result);
    }
}

#[tokio::test(start_paused = true)]
async fn results_in_call_order_events_as_they_happen() {
    let exec = executor(ExecLimits::default(), vec![]);
    let mut log = Vec::new();
    let results = exec
        .run(&sleeps(&[300, 100, 200]), &mut |event| match event {
            ToolEvent::Started { index, .. } => log.push(format!("start {index}")),
            ToolEvent::Completed { index, .. } => log.push(format!("done {index} at {:?}", Instant::now())),
        })
        .await;
    let ids: Vec<&str> = results.iter().map(|r| r.call.id.as_str()).collect();
    assert_eq!(ids, ["call_0", "call_1", "call_2"]);
    assert!(log[..3].iter().all(|l| l.starts_with("start")), "{log:?}");
    let done: Vec<&str> = log[3..].iter().map(|l| &l[..6]).collect();
    assert_eq!(done, ["done 1", "done 2", "done 0"], "completion order");
    assert_eq!(results[0].duration, Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn every_failure_mode_is_a_clear_result_and_siblings_are_untouched() {
    let exec = executor(
        ExecLimits { default_timeout: Some(Duration::from_secs(5)), ..ExecLimits::default() },
        vec![],
    );
    let calls = [
        call(0, "sleep", r#"{"ms": 10}"#),
        call(1, "nope", "{}"),
        call(2, "sleep", r#"{"ms": "#),
        call(3, "sleep", r#"{"ms": "soon"}"#),
        call(4, "sleep", "{}"),
        call(5, "fail", "{}"),
        call(6, "panic", "{}"),
        call(7, "panic_sync", "{}"),
        call(8, "explode", "{}"),
        call(9, "sleep", r#"{"ms": 60000}"#),
        call(10, "sleep", r#"{"ms": 20}"#),
    ];
    let results = exec.run(&calls, &mut |_| {}).await;
    let texts: Vec<String> = results.iter().map(|r| r.content_for_model()).collect();
    assert_eq!(texts[0], "slept 10");
    assert_eq!(
        texts[1],
        "Error: unknown tool `nope`; the available tools are: sleep, block, fail, panic, panic_sync, explode"
    );
    assert!(
        texts[2].starts_with("Error: the arguments are not valid JSON (EOF while parsing"),
        "{}",
        texts[2]
    );
    assert_eq!(texts[3], r#"Error: invalid arguments: `ms`: invalid type: string "soon", expected u64"#);
    assert_eq!(texts[4], "Error: invalid arguments: missing field `ms`");
    assert_eq!(texts[5], "Error: disk full");
    assert_eq!(texts[6], "Error: the tool panicked: async boom");
    assert_eq!(texts[7], "Error: the tool panicked: sync boom");
    assert_eq!(texts[8], "Error: the tool panicked: boom in invoke");
    assert_eq!(texts[9], "Error: the tool did not finish within 5.0s and was cancelled");
    assert_eq!(texts[10], "slept 20");
}

#[tokio::test(start_paused = true)]
async fn per_tool_timeout_and_empty_arguments() {
    let quick = FunctionTool::new("quick", "Times out fast", |_: Value| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok("late".to_owned())
    })
    .timeout(Duration::from_millis(100));
    let exec = executor(ExecLimits::default(), vec![Arc::new(quick)]);
    let start = Instant::now();
    let results = exec.run(&[call(0, "quick", ""), call(1, "sleep", r#"{"ms": 50}"#)], &mut |_| {}).await;
    assert_eq!(results[0].result, Err(ToolError::TimedOut(Duration::from_millis(100))));
    assert_eq!(results[1].result.as_deref(), Ok("slept 50"));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn concurrency_and_batch_limits() {
    let limits =
        ExecLimits { max_concurrency: Some(2), max_calls_per_turn: Some(4), ..ExecLimits::default() };
    let exec = executor(limits, vec![]);
    let start = Instant::now();
    let results = exec.run(&sleeps(&[1000, 1000, 1000, 1000, 1000]), &mut |_| {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(2), "4 calls, 2 at a time");
    let waited: Vec<Duration> = results.iter().map(|r| r.waited).collect();
    assert_eq!(
        &waited[..4],
        [Duration::ZERO, Duration::ZERO, Duration::from_secs(1), Duration::from_secs(1)]
    );
    assert_eq!(results[4].content_for_model(), "Error: not run: at most 4 tool calls are run per turn");
}

#[tokio::test(start_paused = true)]
async fn exclusive_calls_run_alone_after_the_others() {
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let (r, m) = (Arc::clone(&running), Arc::clone(&max_seen));
    let writer = FunctionTool::new("write", "Writes shared state", move |_: Value| {
        let (r, m) = (Arc::clone(&r), Arc::clone(&m));
        async move {
            m.fetch_max(r.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok("written".to_owned())
        }
    })
    .exclusive();
    let exec = executor(ExecLimits::default(), vec![Arc::new(writer)]);
    let calls = [call(0, "write", "{}"), call(1, "sleep", r#"{"ms": 300}"#), call(2, "write", "{}")];
    let start = Instant::now();
    let mut log = Vec::new();
    let results = exec
        .run(&calls, &mut |event| match event {
            ToolEvent::Started { index, .. } => log.push(format!("start {index}")),
            ToolEvent::Completed { index, .. } => log.push(format!("done {index}")),
        })
        .await;
    assert_eq!(start.elapsed(), Duration::from_millis(500), "300 ms, then 100 ms, then 100 ms");
    assert_eq!(
        log,
        ["start 1", "done 1", "start 0", "done 0", "start 2", "done 2"],
        "each start before its end"
    );
    assert_eq!(max_seen.load(Ordering::SeqCst), 1, "never two writes at once");
    assert_eq!(results[0].waited, Duration::from_millis(300));
    assert_eq!(results[2].waited, Duration::from_millis(400));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_batch_cancels_async_calls() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (d, f) = (Arc::clone(&dropped), Arc::clone(&finished));
    let slow = FunctionTool::new("slow", "Slow", move |_: Value| {
        let (flag, f) = (Flag(Arc::clone(&d)), Arc::clone(&f));
        async move {
            let _flag = flag;
            tokio::time::sleep(Duration::from_secs(60)).await;
            f.fetch_add(1, Ordering::SeqCst);
            Ok("done".to_owned())
        }
    });
    let exec = executor(ExecLimits::default(), vec![Arc::new(slow)]);
    let calls: Vec<ToolCall> = (0..3).map(|i| call(i, "slow", "{}")).collect();
    let outcome = tokio::time::timeout(Duration::from_millis(100), exec.run(&calls, &mut |_| {})).await;
    assert!(outcome.is_err());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 3, "every in-flight call was dropped");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}
