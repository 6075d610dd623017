"""Session storage in Agno 3.1.10's SqliteDb: the scenarios of fanout's
crates/fanout-sql/benches/store.rs, printed as one JSON object on the last line.

    bench/compare/.venv/bin/python bench/compare/agno/store_bench.py

A run is stored the way Agno's Agent stores it when it ends (agent/_run.py, cleanup_and_store ->
persist_run_in_session): the run joins the in-memory AgentSession (session.upsert_run,
resolve_run_index), then the session row (db.upsert_session) and the run row (db.upsert_run, the
RunOutput with its messages as JSON). The RunOutput holds only what fanout stores for the same
run (ids, status, the 6 messages, the answer): no tool executions, no metrics, so Agno's rows are
no bigger than they must be. Loading history is what a run does first: db.get_session (the
session and its runs) then session.get_messages().
"""
import json
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from agno.db.base import SessionType
from agno.db.sqlite import SqliteDb
from agno.models.message import Message
from agno.run.agent import RunOutput, RunStatus
from agno.session.agent import AgentSession
from agno.session._utils import resolve_run_index

QUICK = os.environ.get("QUICK") == "1"
TIMED_RUNS = 20 if QUICK else 100
HISTORY_RUNS = 1_667


def run_messages(run_id):
    calls = [
        {"id": f"{run_id}-{i}", "type": "function", "function": {"name": f"atask{i}", "arguments": '{"delay":1}'}}
        for i in range(3)
    ]
    return [
        Message(role="user", content=f"Please run all tasks with a delay of 1s ({run_id})"),
        Message(role="assistant", content=None, tool_calls=calls),
        *[
            Message(role="tool", tool_call_id=f"{run_id}-{i}", tool_name=f"atask{i}", content=f"Task {i} completed in 1.00s")
            for i in range(3)
        ],
        Message(role="assistant", content=f"All three tasks completed in 1.00s each ({run_id})."),
    ]


def new_session(session_id):
    return AgentSession(
        session_id=session_id,
        agent_id="bench",
        user_id="ada",
        agent_data={"name": "bench", "agent_id": "bench", "model": {"id": "gpt-5-mini", "provider": "OpenAI"}},
        session_data={"session_state": {}},
        created_at=int(time.time()),
    )


def store_run(db, session, run_id):
    """What Agent.run does with the db when the run ends."""
    run = RunOutput(
        run_id=run_id,
        agent_id="bench",
        agent_name="bench",
        session_id=session.session_id,
        user_id="ada",
        content=f"All three tasks completed in 1.00s each ({run_id}).",
        messages=run_messages(run_id),
        status=RunStatus.completed,
        model="gpt-5-mini",
        model_provider="OpenAI",
        created_at=int(time.time()),
    )
    session.upsert_run(run=run)
    run_index = resolve_run_index(session, run)
    db.upsert_session(session)
    db.upsert_run(run=run, session_id=session.session_id, user_id="ada", run_index=run_index)


def median(xs):
    return statistics.median(xs)


def main():
    out = {}
    tmp = tempfile.mkdtemp(prefix="agno-store-bench-")
    try:
        # Storing a run after 1, 100 and 1,000 earlier runs of its session: three databases,
        # timed in turns (in rotating order), so a noisy moment of the machine falls on all three alike.
        points = []
        for earlier in (1, 100, 1000):
            db = SqliteDb(db_file=os.path.join(tmp, f"after-{earlier}.db"))
            session = new_session("s")
            for i in range(earlier):
                store_run(db, session, f"early-{i}")
            points.append((earlier, db, session, []))
        for i in range(TIMED_RUNS):
            # Each takes its turn first, second and last alike.
            for k in range(len(points)):
                _, db, session, times = points[(i + k) % len(points)]
                started = time.perf_counter()
                store_run(db, session, f"timed-{i}")
                times.append(time.perf_counter() - started)
        for earlier, _, _, times in points:
            out[f"store_after_{earlier}_us"] = round(median(times) * 1e6, 1)

        # Loading 10,000 messages of history (1,667 runs), and the last 10 runs of them.
        path = os.path.join(tmp, "history.db")
        db = SqliteDb(db_file=path)
        session = new_session("s")
        for i in range(HISTORY_RUNS):
            store_run(db, session, f"run-{i}")
        cold, warm = [], []
        for _ in range(3 if QUICK else 10):
            # A new SqliteDb: its cache of decoded runs is empty (a new process, or runs it has not seen).
            fresh = SqliteDb(db_file=path)
            started = time.perf_counter()
            messages = fresh.get_session(session_id="s", session_type=SessionType.AGENT).get_messages()
            cold.append(time.perf_counter() - started)
            assert len(messages) == HISTORY_RUNS * 6, len(messages)
            # The same SqliteDb again: Agno serves the decoded runs from its cache.
            started = time.perf_counter()
            messages = fresh.get_session(session_id="s", session_type=SessionType.AGENT).get_messages()
            warm.append(time.perf_counter() - started)
            assert len(messages) == HISTORY_RUNS * 6, len(messages)
        out["history_10000_ms"] = round(median(cold) * 1e3, 1)
        out["history_10000_cached_ms"] = round(median(warm) * 1e3, 1)
        times = []
        for _ in range(20 if QUICK else 100):
            started = time.perf_counter()
            got = db.get_session(session_id="s", session_type=SessionType.AGENT, runs_limit=10)
            messages = got.get_messages()
            times.append(time.perf_counter() - started)
            assert len(got.runs) == 10 and len(messages) == 60, (len(got.runs), len(messages))
        out["history_last_10_us"] = round(median(times) * 1e6, 1)

        # 100 concurrent runs on one session (threads: Agent.run in 100 threads), five times.
        db = SqliteDb(db_file=os.path.join(tmp, "concurrent.db"))
        times, stored, errors = [], [], []
        for rnd in range(2 if QUICK else 5):
            session_id = f"s{rnd}"

            def one(i):
                try:
                    # Each run has the session as it read it when it started.
                    store_run(db, new_session(session_id), f"{session_id}-run-{i}")
                    return None
                except Exception as e:  # a lost run is counted, not fatal
                    return repr(e)

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=100) as pool:
                results = list(pool.map(one, range(100)))
            times.append(time.perf_counter() - started)
            errors += [r for r in results if r]
            runs = db.get_runs(session_id=session_id)
            whole = sum(1 for r in runs if r.status == RunStatus.completed and len(r.messages or []) == 6)
            stored.append(whole)
        out["concurrent_100_ms"] = round(median(times) * 1e3, 1)
        out["concurrent_100_stored"] = min(stored)
        if errors:
            out["concurrent_errors"] = errors[:3]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
