//! The session store conformance suite: one async fn per property, run against every backend
//! (`tests/store_memory.rs`, `tests/store_sqlite.rs`, `tests/store_postgres.rs`) through
//! [`conformance!`], plus the pieces the backend files share (temp dirs, the child-process
//! runs of the two-process tests).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "postgres")]
pub mod postgres;

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use fanout::models::{Message, Replay};
use fanout::store::{RunRecord, RunState, SessionQuery, SessionStore, StoredMessage, StoredRun};
use fanout::tool::ToolCall;
use serde_json::json;

/// A store under test and what must live as long as it (a temp dir, a database).
pub struct Fixture {
    pub store: Arc<dyn SessionStore>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

impl Fixture {
    pub fn new(store: Arc<dyn SessionStore>, guard: impl std::any::Any + Send + Sync) -> Self {
        Self { store, guard: Box::new(guard) }
    }
}

/// One `#[tokio::test]` per property of the suite, each on a fresh store from `$fixture` (an
/// async fn returning `Option<Fixture>`: `None` skips, when the backend is missing and that is
/// allowed).
#[macro_export]
macro_rules! conformance {
    ($fixture:path) => {
        $crate::conformance!(@each $fixture;
            round_trip_of_every_message_variant,
            messages_in_seq_order_whatever_the_append_order,
            a_duplicate_seq_is_ignored,
            a_large_batch_is_stored_whole,
            states_and_their_data,
            history_holds_only_completed_runs,
            history_of_the_last_n_runs,
            sessions_by_user_and_agent_newest_first_paged,
            session_info,
            rename,
            delete_removes_the_session_and_its_runs,
            unknown_ids,
            concurrent_runs_on_one_session_lose_nothing,
            leases_are_exclusive_until_released_or_expired,
            interrupted_runs_are_running_without_a_live_lease,
        );
    };
    (@each $fixture:path; $($property:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() {
                let Some(fixture) = $fixture().await else { return };
                $crate::support::$property(&*fixture.store).await;
            }
        )*
    };
}

/// A run record of `session` with the given ids.
pub fn record(run_id: &str, session_id: &str, user_id: Option<&str>, agent_id: Option<&str>) -> RunRecord {
    RunRecord {
        run_id: run_id.to_owned(),
        session_id: session_id.to_owned(),
        user_id: user_id.map(str::to_owned),
        agent_id: agent_id.map(str::to_owned),
        parent_run_id: None,
        created_at: SystemTime::now(),
    }
}

/// A unique id, so tests sharing a database never meet.
pub fn id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn assistant(text: &str) -> Message {
    Message::Assistant { content: Some(text.to_owned()), tool_calls: Vec::new(), replay: None }
}

pub fn tool_result(call_id: &str, content: &str) -> Message {
    Message::Tool {
        call_id: call_id.to_owned(),
        name: "lookup".to_owned(),
        content: content.to_owned(),
        is_error: false,
    }
}

/// The messages of a typical run: the user's message, a batch of three calls, their results,
/// the answer. `tag` makes them this run's own.
pub fn typical_run(tag: &str) -> Vec<Message> {
    let calls = (0..3)
        .map(|i| ToolCall::new(format!("{tag}-call-{i}"), "lookup", format!("{{\"i\":{i}}}")))
        .collect();
    vec![
        Message::user(format!("question {tag}")),
        Message::Assistant { content: None, tool_calls: calls, replay: None },
        tool_result(&format!("{tag}-call-0"), &format!("result 0 of {tag}")),
        tool_result(&format!("{tag}-call-1"), &format!("result 1 of {tag}")),
        tool_result(&format!("{tag}-call-2"), &format!("result 2 of {tag}")),
        assistant(&format!("answer {tag}")),
    ]
}

pub fn numbered(messages: &[Message]) -> Vec<StoredMessage> {
    messages
        .iter()
        .enumerate()
        .map(|(seq, message)| StoredMessage { seq: seq as u32, message: message.clone() })
        .collect()
}

/// Store a whole run the way the run loop does: begin, each message as it happens (a batch's
/// results as their calls finish: out of order), then its final state.
pub async fn store_run(store: &dyn SessionStore, record: &RunRecord, messages: &[Message], state: RunState) {
    store.begin_run(record).await.unwrap();
    let numbered = numbered(messages);
    let mut order: Vec<&StoredMessage> = numbered.iter().collect();
    if order.len() == 6 {
        order.swap(2, 4);
    }
    for message in order {
        store.append_messages(&record.run_id, std::slice::from_ref(message)).await.unwrap();
    }
    store.set_state(&record.run_id, state, Some(&json!({ "content": "done" }))).await.unwrap();
}

fn run_ids(runs: &[StoredRun]) -> Vec<&str> {
    runs.iter().map(|r| r.record.run_id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// The properties.

pub async fn round_trip_of_every_message_variant(store: &dyn SessionStore) {
    let session = id("s");
    let mut record = record(&id("run"), &session, Some("ada"), Some("assistant"));
    record.parent_run_id = Some("leader-run".to_owned());
    let messages = vec![
        Message::system("Be brief."),
        Message::user("Hello — ünïcödé, \"quotes\", \\ and\nnew lines 🎉"),
        assistant("plain text"),
        Message::Assistant {
            content: Some("calling two tools".to_owned()),
            tool_calls: vec![
                ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#),
                ToolCall::new("call_2", "atask1", "not json at all"),
            ],
            replay: Some(Replay::new(
                "anthropic",
                json!({ "thinking": [{ "type": "thinking", "thinking": "hmm", "signature": "c2lnbmF0dXJl" }],
                        "n": 1.5, "big": 9_007_199_254_740_993_u64, "nested": { "a": [null, true, "x"] } }),
            )),
        },
        Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall::new("call_3", "t", "{}")],
            replay: None,
        },
        Message::Tool {
            call_id: "call_1".into(),
            name: "get_weather".into(),
            content: "sunny".into(),
            is_error: false,
        },
        Message::Tool {
            call_id: "call_2".into(),
            name: "atask1".into(),
            content: "bad arguments".into(),
            is_error: true,
        },
        Message::Tool { call_id: "call_3".into(), name: "t".into(), content: String::new(), is_error: false },
        assistant(""),
    ];
    store.begin_run(&record).await.unwrap();
    store.append_messages(&record.run_id, &numbered(&messages)).await.unwrap();
    let data = json!({ "content": "It is sunny.", "metrics": { "input_tokens": 12, "duration": 0.25 } });
    store.set_state(&record.run_id, RunState::Completed, Some(&data)).await.unwrap();

    let run = store.run(&record.run_id).await.unwrap().expect("the run is stored");
    assert_eq!(run.record, record, "the record, its ids and its time to the nanosecond");
    assert_eq!(run.messages, messages);
    assert_eq!(run.state, RunState::Completed);
    assert_eq!(run.data, Some(data));
    // The same through every reading path.
    assert_eq!(store.runs(&session).await.unwrap(), vec![run.clone()]);
    assert_eq!(store.history(&session, None).await.unwrap(), vec![run]);
}

pub async fn messages_in_seq_order_whatever_the_append_order(store: &dyn SessionStore) {
    let record = record(&id("run"), &id("s"), None, None);
    let messages = typical_run("a");
    store.begin_run(&record).await.unwrap();
    let numbered = numbered(&messages);
    // One by one, backwards but for the answer, then a batch out of order.
    for seq in [4, 2, 0] {
        store.append_messages(&record.run_id, &numbered[seq..=seq]).await.unwrap();
    }
    let batch = vec![numbered[5].clone(), numbered[3].clone(), numbered[1].clone()];
    store.append_messages(&record.run_id, &batch).await.unwrap();
    // Gaps are allowed: seq 10 after 5.
    let late = StoredMessage { seq: 10, message: assistant("late") };
    store.append_messages(&record.run_id, std::slice::from_ref(&late)).await.unwrap();
    store.append_messages(&record.run_id, &[]).await.unwrap();

    let run = store.run(&record.run_id).await.unwrap().unwrap();
    let mut expected = messages;
    expected.push(late.message);
    assert_eq!(run.messages, expected);
}

pub async fn a_duplicate_seq_is_ignored(store: &dyn SessionStore) {
    let record = record(&id("run"), &id("s"), None, None);
    store.begin_run(&record).await.unwrap();
    let first = StoredMessage { seq: 0, message: Message::user("first") };
    let second = StoredMessage { seq: 0, message: Message::user("second") };
    store.append_messages(&record.run_id, std::slice::from_ref(&first)).await.unwrap();
    store.append_messages(&record.run_id, std::slice::from_ref(&second)).await.unwrap();
    // A retried batch: what is stored stays, what is new is added.
    let retry = vec![
        StoredMessage { seq: 0, message: Message::user("third") },
        StoredMessage { seq: 1, message: assistant("one") },
    ];
    store.append_messages(&record.run_id, &retry).await.unwrap();
    store.append_messages(&record.run_id, &retry).await.unwrap();
    // One seq twice in one batch: the first of them is stored.
    let twice = vec![
        StoredMessage { seq: 2, message: assistant("two") },
        StoredMessage { seq: 2, message: assistant("deux") },
    ];
    store.append_messages(&record.run_id, &twice).await.unwrap();
    let run = store.run(&record.run_id).await.unwrap().unwrap();
    assert_eq!(run.messages, vec![Message::user("first"), assistant("one"), assistant("two")]);
}

/// More messages in one call than one statement takes (2,500): all stored, in order, and the
/// same batch again changes nothing.
pub async fn a_large_batch_is_stored_whole(store: &dyn SessionStore) {
    let record = record(&id("run"), &id("s"), None, None);
    store.begin_run(&record).await.unwrap();
    let messages: Vec<Message> =
        (0..2_500).map(|i| tool_result(&format!("call-{i}"), &format!("result {i}"))).collect();
    let mut batch = numbered(&messages);
    batch.reverse();
    store.append_messages(&record.run_id, &batch).await.unwrap();
    store.append_messages(&record.run_id, &batch).await.unwrap();
    assert_eq!(store.run(&record.run_id).await.unwrap().unwrap().messages, messages);
}

pub async fn states_and_their_data(store: &dyn SessionStore) {
    let record = record(&id("run"), &id("s"), None, None);
    store.begin_run(&record).await.unwrap();
    let run = store.run(&record.run_id).await.unwrap().unwrap();
    assert_eq!((run.state, run.data), (RunState::Running, None));
    let began = run.updated_at;

    let paused = json!({ "pending": [{ "id": "call_1", "name": "delete_file" }] });
    store.set_state(&record.run_id, RunState::Paused, Some(&paused)).await.unwrap();
    let run = store.run(&record.run_id).await.unwrap().unwrap();
    assert_eq!((run.state, run.data), (RunState::Paused, Some(paused)));
    assert!(run.updated_at >= began);

    store.set_state(&record.run_id, RunState::Running, None).await.unwrap();
    let run = store.run(&record.run_id).await.unwrap().unwrap();
    assert_eq!((run.state, run.data), (RunState::Running, None), "the newest state and its data count");

    for state in [RunState::Interrupted, RunState::Cancelled, RunState::Failed, RunState::Completed] {
        let data = json!({ "state": state.as_str() });
        store.set_state(&record.run_id, state, Some(&data)).await.unwrap();
        let run = store.run(&record.run_id).await.unwrap().unwrap();
        assert_eq!((run.state, run.data), (state, Some(data)));
    }
}

pub async fn history_holds_only_completed_runs(store: &dyn SessionStore) {
    let session = id("s");
    let mut expected = Vec::new();
    for (i, state) in [
        RunState::Completed,
        RunState::Failed,
        RunState::Completed,
        RunState::Cancelled,
        RunState::Paused,
        RunState::Interrupted,
        RunState::Completed,
    ]
    .into_iter()
    .enumerate()
    {
        let record = record(&format!("{session}-{i}"), &session, None, None);
        store_run(store, &record, &typical_run(&record.run_id), state).await;
        if state == RunState::Completed {
            expected.push(record.run_id);
        }
    }
    // One still going on.
    let running = record(&format!("{session}-running"), &session, None, None);
    store.begin_run(&running).await.unwrap();
    store.append_messages(&running.run_id, &numbered(&[Message::user("still going")])).await.unwrap();

    let history = store.history(&session, None).await.unwrap();
    assert_eq!(run_ids(&history), expected);
    for run in &history {
        assert_eq!(run.state, RunState::Completed);
        assert_eq!(run.messages, typical_run(&run.record.run_id), "whole and in order");
    }

    // An interrupted run that is resumed and completes joins the history, in its place.
    let interrupted = format!("{session}-5");
    store.set_state(&interrupted, RunState::Running, None).await.unwrap();
    store.set_state(&interrupted, RunState::Completed, None).await.unwrap();
    let history = store.history(&session, None).await.unwrap();
    let ids = run_ids(&history);
    assert_eq!(ids, [&expected[0], &expected[1], &interrupted, &expected[2]]);

    // Every run, whatever its state, in the order they began.
    let all = store.runs(&session).await.unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[1].state, RunState::Failed);
    assert_eq!(all[7].state, RunState::Running);
    assert_eq!(all[7].messages, [Message::user("still going")]);
}

pub async fn history_of_the_last_n_runs(store: &dyn SessionStore) {
    let session = id("s");
    let mut completed = Vec::new();
    for i in 0..6 {
        let run = record(&format!("{session}-{i}"), &session, None, None);
        let state = if i % 2 == 1 { RunState::Completed } else { RunState::Failed };
        store_run(store, &run, &typical_run(&run.run_id), state).await;
        if state == RunState::Completed {
            completed.push(run.run_id);
        }
        // A completed run of another session in between must not count.
        let other = record(&format!("{session}-other-{i}"), &id("other"), None, None);
        store_run(store, &other, &typical_run("other"), RunState::Completed).await;
    }
    assert_eq!(run_ids(&store.history(&session, Some(2)).await.unwrap()), [&completed[1], &completed[2]]);
    assert_eq!(run_ids(&store.history(&session, Some(1)).await.unwrap()), [&completed[2]]);
    assert!(store.history(&session, Some(0)).await.unwrap().is_empty());
    assert_eq!(run_ids(&store.history(&session, Some(100)).await.unwrap()), completed);
    let last_two = store.history(&session, Some(2)).await.unwrap();
    assert_eq!(last_two[0].messages, typical_run(&completed[1]));
    assert_eq!(last_two[1].messages, typical_run(&completed[2]));
}

pub async fn sessions_by_user_and_agent_newest_first_paged(store: &dyn SessionStore) {
    // Users and agents of their own, so stores shared with other tests list only these.
    let (ada, bob, helper, coder) = (id("ada"), id("bob"), id("helper"), id("coder"));
    let mut ada_sessions = Vec::new();
    for i in 0..25 {
        let session = id("s");
        let (user, agent) =
            if i % 5 == 4 { (&bob, &coder) } else { (&ada, if i % 2 == 0 { &helper } else { &coder }) };
        let record = record(&id("run"), &session, Some(user), Some(agent));
        store_run(store, &record, &typical_run("x"), RunState::Completed).await;
        if user == &ada {
            ada_sessions.push((session, agent.clone()));
        }
    }
    // A new run in ada's oldest session makes it her newest.
    let oldest = ada_sessions.remove(0);
    store_run(
        store,
        &record(&id("run"), &oldest.0, Some(&ada), Some(&oldest.1)),
        &typical_run("y"),
        RunState::Completed,
    )
    .await;
    ada_sessions.push(oldest);
    let newest_first: Vec<String> = ada_sessions.iter().rev().map(|(s, _)| s.clone()).collect();

    let by_ada = |limit, offset| SessionQuery { user_id: Some(ada.clone()), agent_id: None, limit, offset };
    let page = store.sessions(&by_ada(0, 0)).await.unwrap();
    assert_eq!(page.total, 20);
    assert_eq!(page.items.len(), 20, "the default page size");
    let ids: Vec<String> = page.items.iter().map(|s| s.session_id.clone()).collect();
    assert_eq!(ids, newest_first);
    assert!(page.items.iter().all(|s| s.user_id.as_deref() == Some(ada.as_str())));

    let page = store.sessions(&by_ada(7, 0)).await.unwrap();
    assert_eq!((page.total, page.items.len()), (20, 7));
    let second = store.sessions(&by_ada(7, 7)).await.unwrap();
    let last = store.sessions(&by_ada(7, 14)).await.unwrap();
    assert_eq!((second.items.len(), last.items.len()), (7, 6));
    let paged: Vec<String> =
        [page.items, second.items, last.items].concat().into_iter().map(|s| s.session_id).collect();
    assert_eq!(paged, newest_first, "pages follow each other without gaps or repeats");
    let beyond = store.sessions(&by_ada(7, 40)).await.unwrap();
    assert_eq!((beyond.total, beyond.items.len()), (20, 0));

    let by_agent = store
        .sessions(&SessionQuery { agent_id: Some(coder.clone()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_agent.total, 15); // 5 of bob's, 10 of ada's
    assert!(by_agent.items.iter().all(|s| s.agent_id.as_deref() == Some(coder.as_str())));
    let both = store
        .sessions(&SessionQuery {
            user_id: Some(bob.clone()),
            agent_id: Some(coder.clone()),
            limit: 100,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(both.total, 5);
    let none = store
        .sessions(&SessionQuery {
            user_id: Some(bob.clone()),
            agent_id: Some(helper.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((none.total, none.items.len()), (0, 0));

    // Unfiltered: everything, newest first; these 25 sessions are the newest of the store.
    let all = store.sessions(&SessionQuery { limit: 1, ..Default::default() }).await.unwrap();
    assert!(all.total >= 25);
    assert_eq!(all.items[0].session_id, newest_first[0]);
}

pub async fn session_info(store: &dyn SessionStore) {
    let session = id("s");
    let mut first = record(&id("run"), &session, Some("ada"), Some("helper"));
    first.created_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    store_run(store, &first, &typical_run("1"), RunState::Completed).await;
    // Later runs of other users or agents do not change whose session it is.
    let mut second = record(&id("run"), &session, Some("bob"), None);
    second.created_at = first.created_at + Duration::from_secs(60);
    store_run(store, &second, &typical_run("2"), RunState::Failed).await;
    let mut third = record(&id("run"), &session, Some("ada"), Some("helper"));
    third.created_at = first.created_at + Duration::from_secs(120);
    store.begin_run(&third).await.unwrap();

    let info = store.session(&session).await.unwrap().unwrap();
    assert_eq!(info.session_id, session);
    assert_eq!(info.user_id.as_deref(), Some("ada"));
    assert_eq!(info.agent_id.as_deref(), Some("helper"));
    assert_eq!(info.name, None);
    assert_eq!(info.created_at, first.created_at);
    assert_eq!(info.updated_at, third.created_at);
    assert_eq!(info.runs, 3);
}

pub async fn rename(store: &dyn SessionStore) {
    let session = id("s");
    store_run(
        store,
        &record(&id("run"), &session, Some("ada"), None),
        &typical_run("x"),
        RunState::Completed,
    )
    .await;
    assert!(store.rename_session(&session, "Trip to Paris").await.unwrap());
    assert_eq!(store.session(&session).await.unwrap().unwrap().name.as_deref(), Some("Trip to Paris"));
    assert!(store.rename_session(&session, "Paris, again").await.unwrap());
    let listed =
        store.sessions(&SessionQuery { user_id: Some("ada".into()), limit: 100, ..Default::default() }).await;
    let listed = listed.unwrap().items.into_iter().find(|s| s.session_id == session).unwrap();
    assert_eq!(listed.name.as_deref(), Some("Paris, again"));
    // The runs are untouched.
    assert_eq!(store.history(&session, None).await.unwrap().len(), 1);
}

pub async fn delete_removes_the_session_and_its_runs(store: &dyn SessionStore) {
    let (session, kept) = (id("s"), id("kept"));
    let user = id("user");
    let mut ids = Vec::new();
    for state in [RunState::Completed, RunState::Failed, RunState::Running] {
        let record = record(&id("run"), &session, Some(&user), None);
        store_run(store, &record, &typical_run("x"), state).await;
        ids.push(record.run_id);
    }
    let other = record(&id("run"), &kept, Some(&user), None);
    store_run(store, &other, &typical_run("kept"), RunState::Completed).await;

    assert!(store.delete_session(&session).await.unwrap());
    assert!(store.session(&session).await.unwrap().is_none());
    assert!(store.runs(&session).await.unwrap().is_empty());
    assert!(store.history(&session, None).await.unwrap().is_empty());
    for run_id in &ids {
        assert!(store.run(run_id).await.unwrap().is_none());
    }
    let listed =
        store.sessions(&SessionQuery { user_id: Some(user.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.items[0].session_id, kept);
    assert!(!store.delete_session(&session).await.unwrap(), "deleted already");

    // The other session is whole; a deleted run's id is free again.
    assert_eq!(store.run(&other.run_id).await.unwrap().unwrap().messages, typical_run("kept"));
    store_run(store, &record(&ids[0], &session, None, None), &typical_run("again"), RunState::Completed)
        .await;
    assert_eq!(store.history(&session, None).await.unwrap()[0].messages, typical_run("again"));
}

pub async fn unknown_ids(store: &dyn SessionStore) {
    assert!(store.run("no-such-run").await.unwrap().is_none());
    assert!(store.runs("no-such-session").await.unwrap().is_empty());
    assert!(store.history("no-such-session", None).await.unwrap().is_empty());
    assert!(store.history("no-such-session", Some(3)).await.unwrap().is_empty());
    assert!(store.session("no-such-session").await.unwrap().is_none());
    assert!(!store.rename_session("no-such-session", "x").await.unwrap());
    assert!(!store.delete_session("no-such-session").await.unwrap());

    let err = store.append_messages("no-such-run", &numbered(&[Message::user("hi")])).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    let err = store.set_state("no-such-run", RunState::Completed, None).await.unwrap_err();
    assert!(err.is_storage(), "{err}");

    // A run id stored before.
    let record = record(&id("run"), &id("s"), None, None);
    store.begin_run(&record).await.unwrap();
    let err = store.begin_run(&record).await.unwrap_err();
    assert!(err.is_storage() && err.to_string().contains("already stored"), "{err}");
    let mut elsewhere = record.clone();
    elsewhere.session_id = id("s");
    assert!(store.begin_run(&elsewhere).await.unwrap_err().is_storage(), "unique across sessions");
    assert!(store.session(&elsewhere.session_id).await.unwrap().is_none(), "nothing half-stored");
}

/// 100 runs at once on one session, each stored the way the run loop stores it: all arrive,
/// each whole and in order.
pub async fn concurrent_runs_on_one_session_lose_nothing(store: &dyn SessionStore) {
    let session = id("s");
    let started = std::time::Instant::now();
    let ids = store_concurrently(store, &session, "p", 100).await;
    eprintln!("100 concurrent runs stored in {:?}", started.elapsed());
    check_all_arrived(store, &session, &ids).await;
}

/// Store `n` runs of `session` at once (ids `{tag}-0` …); their ids.
pub async fn store_concurrently(store: &dyn SessionStore, session: &str, tag: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{session}-{tag}-{i}")).collect();
    let runs = ids.iter().map(|run_id| async move {
        let record = record(run_id, session, Some("ada"), None);
        store_run(store, &record, &typical_run(run_id), RunState::Completed).await;
    });
    futures::future::join_all(runs).await;
    ids
}

/// Every run of `ids` is in `session`, completed, with its messages whole and in order.
pub async fn check_all_arrived(store: &dyn SessionStore, session: &str, ids: &[String]) {
    let runs = store.runs(session).await.unwrap();
    let stored: HashSet<&str> = run_ids(&runs).into_iter().collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(missing.is_empty(), "{} of {} runs lost: {missing:?}", missing.len(), ids.len());
    assert_eq!(runs.len(), ids.len());
    for run in &runs {
        assert_eq!(run.state, RunState::Completed);
        assert_eq!(
            run.messages,
            typical_run(&run.record.run_id),
            "run {} whole and in order",
            run.record.run_id
        );
    }
    assert_eq!(store.history(session, None).await.unwrap().len(), ids.len());
    assert_eq!(store.session(session).await.unwrap().unwrap().runs, ids.len() as u64);
}

// ---------------------------------------------------------------------------------------------
// SQL backends only.

/// Rows a store must refuse to read, each in a run of its own: `run_id` is bound as `$1`.
pub const NEWER_MESSAGE: &str = "INSERT INTO fanout_messages (run_id, seq, format_version, body) VALUES ($1, 7, 99, '{\"role\":\"hologram\"}')";
pub const NEWER_STATE: &str = "INSERT INTO fanout_run_states (run_id, state, format_version, data, created_at) \
     VALUES ($1, 'completed', 99, '{}', 0)";
pub const UNREADABLE_MESSAGE: &str =
    "INSERT INTO fanout_messages (run_id, seq, format_version, body) VALUES ($1, 7, 1, 'not json')";
pub const UNKNOWN_STATE: &str = "INSERT INTO fanout_run_states (run_id, state, format_version, data, created_at) \
     VALUES ($1, 'teleported', 1, NULL, 0)";

/// Runs holding a row of a newer format version, or a row that does not decode, are refused
/// with storage errors, through every reading path.
pub async fn unreadable_rows_are_refused<F, Fut>(store: &dyn SessionStore, exec: F)
where
    F: Fn(&'static str, String) -> Fut,
    Fut: Future<Output = ()>,
{
    for (sql, says) in [
        (NEWER_MESSAGE, "newer fanout"),
        (NEWER_STATE, "newer fanout"),
        (UNREADABLE_MESSAGE, "cannot be read"),
        (UNKNOWN_STATE, "unknown state"),
    ] {
        let session = id("s");
        let record = record(&id("run"), &session, None, None);
        store_run(store, &record, &typical_run("x"), RunState::Completed).await;
        exec(sql, record.run_id.clone()).await;
        let mut errors = vec![store.run(&record.run_id).await.err(), store.runs(&session).await.err()];
        match store.history(&session, None).await {
            // A run whose newest state is unknown is not a completed run.
            Ok(history) if sql == UNKNOWN_STATE => assert!(history.is_empty()),
            history => errors.push(history.err()),
        }
        for err in errors {
            let err = err.unwrap_or_else(|| panic!("a row stored by {sql:?} was read"));
            assert!(err.is_storage(), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
        // The session itself can still be listed, renamed and deleted.
        assert!(store.session(&session).await.unwrap().is_some());
        assert!(store.delete_session(&session).await.unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// The environment variable that makes a test binary a child of a two-process test: the
/// database URL and the session, separated by a space.
pub const CHILD_ENV: &str = "FANOUT_SQL_TEST_CHILD";

/// Runs per process in the two-process tests.
pub const RUNS_PER_PROCESS: usize = 50;

/// One owner's lease keeps every other owner out until it is released or expires; the owner
/// itself renews it.
pub async fn leases_are_exclusive_until_released_or_expired(store: &dyn SessionStore) {
    let (run, session) = (id("lease"), id("s"));
    let long = Duration::from_secs(600);
    // Claimed before the run is begun: it is never seen running without a lease.
    assert!(store.claim_run(&run, "a", long).await.unwrap());
    store.begin_run(&record(&run, &session, None, None)).await.unwrap();
    assert!(!store.claim_run(&run, "b", long).await.unwrap(), "a live lease of another owner");
    assert!(store.claim_run(&run, "a", long).await.unwrap(), "the owner renews");
    store.release_run(&run, "b").await.unwrap();
    assert!(!store.claim_run(&run, "b", long).await.unwrap(), "only the owner releases");
    store.release_run(&run, "a").await.unwrap();
    assert!(store.claim_run(&run, "b", long).await.unwrap(), "released: free for another");
    assert!(!store.claim_run(&run, "a", long).await.unwrap());

    // A short lease expires (by the store's clock): then another owner may take it.
    let short = id("lease-short");
    assert!(store.claim_run(&short, "a", Duration::from_millis(50)).await.unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !store.claim_run(&short, "b", long).await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!store.claim_run(&short, "a", long).await.unwrap());
}

/// A running run with a live lease is not interrupted; one whose lease expired, or that has
/// none, is; runs that ended are not, whatever their lease.
pub async fn interrupted_runs_are_running_without_a_live_lease(store: &dyn SessionStore) {
    let session = id("s");
    let [live, expired, unleased, done, marked] = ["live", "expired", "unleased", "done", "marked"].map(id);
    let long = Duration::from_secs(600);
    for run in [&live, &expired, &unleased, &done, &marked] {
        store.begin_run(&record(run, &session, None, None)).await.unwrap();
    }
    assert!(store.claim_run(&live, "a", long).await.unwrap());
    assert!(store.claim_run(&expired, "a", Duration::from_millis(1)).await.unwrap());
    store.set_state(&done, RunState::Completed, None).await.unwrap();
    store.set_state(&marked, RunState::Interrupted, None).await.unwrap();
    let want = vec![expired.clone(), unleased.clone(), marked.clone()];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = store.interrupted_runs(&session).await.unwrap();
        if found == want {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "interrupted runs: {found:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Taken over (resumed): no longer interrupted.
    assert!(store.claim_run(&expired, "b", long).await.unwrap());
    assert_eq!(store.interrupted_runs(&session).await.unwrap(), vec![unleased, marked]);
    assert!(store.interrupted_runs(&id("none")).await.unwrap().is_empty());
}

/// In a two-process test, wait until the other process (`other`) is there: each stores a run
/// `{session}-{tag}-ready` and waits for the other's, so their runs really go on at once. The
/// ids of both.
pub async fn meet(store: &dyn SessionStore, session: &str, tag: &str, other: &str) -> Vec<String> {
    let (mine, theirs) = (format!("{session}-{tag}-ready"), format!("{session}-{other}-ready"));
    store_run(store, &record(&mine, session, Some("ada"), None), &typical_run(&mine), RunState::Completed)
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while store.run(&theirs).await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the other process never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    vec![mine, theirs]
}

/// The parent of a two-process test on database `url`: start this binary's test `child_test`
/// as the other process, both store [`RUNS_PER_PROCESS`] runs at once in one session, then
/// every run of both must have arrived whole.
pub async fn two_processes_parent(store: &dyn SessionStore, child_test: &str, url: &str) {
    let session = id("s");
    let child = spawn_child(child_test, url, &session);
    let mut ids = meet(store, &session, "parent", "child").await;
    ids.extend(store_concurrently(store, &session, "parent", RUNS_PER_PROCESS).await);
    tokio::task::spawn_blocking(move || wait_child(child)).await.unwrap();
    ids.extend((0..RUNS_PER_PROCESS).map(|i| format!("{session}-child-{i}")));
    check_all_arrived(store, &session, &ids).await;
}

/// The child of [`two_processes_parent`], on the session it was given.
pub async fn two_processes_child(store: &dyn SessionStore, session: &str) {
    meet(store, session, "child", "parent").await;
    store_concurrently(store, session, "child", RUNS_PER_PROCESS).await;
}

/// Start this test binary again as a child that runs only the test `child_test` with
/// [`CHILD_ENV`] set to `url session`.
pub fn spawn_child(child_test: &str, url: &str, session: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([child_test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{url} {session}"))
        .stdin(std::process::Stdio::null())
        // Its panics and notices go to stderr; its test summary would only confuse the parent's.
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// In a child process: the URL and session it was given, if this process is one.
pub fn child_args() -> Option<(String, String)> {
    let value = std::env::var(CHILD_ENV).ok()?;
    let (url, session) = value.split_once(' ')?;
    Some((url.to_owned(), session.to_owned()))
}

/// Wait for a child of [`spawn_child`] and check that it succeeded.
pub fn wait_child(mut child: std::process::Child) {
    let status = child.wait().unwrap();
    assert!(status.success(), "the child process failed: {status}");
}

// ---------------------------------------------------------------------------------------------
// Temp dirs.

/// A directory of its own under the system's temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(id(prefix));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when the tests run in CI, where a missing component fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}
