"""Agno's own client against a fanout server: AgentOSClient and RemoteAgent from PyPI agno.

Run by tests/agno.rs with the server's URL: python client.py http://127.0.0.1:PORT
"""

import asyncio
import json
import sys

import httpx
from agno.agent import RemoteAgent
from agno.client import AgentOSClient
from agno.run.agent import (
    RunCancelledEvent,
    RunCompletedEvent,
    RunContentEvent,
    RunContinuedEvent,
    RunPausedEvent,
    RunStartedEvent,
    ToolCallCompletedEvent,
    ToolCallStartedEvent,
)
from agno.run.base import RunStatus

URL = sys.argv[1]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


async def discovery(client):
    config = client.get_config()
    ids = sorted(agent.id for agent in config.agents)
    check(ids == ["confirm", "seed", "slow"], f"config agents: {ids}")
    agents = await client.list_agents()
    check({a.id for a in agents} == {"confirm", "seed", "slow"}, f"list_agents: {agents}")
    seed = client.get_agent("seed")
    names = [t["name"] for t in seed.tools["tools"]]
    check(names == ["atask2", "atask1", "atask3"], f"seed tools: {names}")
    check(seed.model.provider == "scripted", f"seed model: {seed.model}")
    try:
        client.get_agent("nope")
        raise AssertionError("an unknown agent must be a 404")
    except httpx.HTTPStatusError as err:
        check(err.response.status_code == 404, f"unknown agent: {err.response.status_code}")
    print("discovery: ok")


async def runs(client):
    run = await client.run_agent("seed", "Please run all tasks", user_id="ada")
    check(run.status == RunStatus.completed, f"status {run.status}")
    check("Task 1 completed in 10ms" in run.content, f"content {run.content!r}")
    check(len(run.tools) == 3 and all(t.result for t in run.tools), f"tools {run.tools}")
    check(run.metrics is not None and run.metrics.total_tokens > 0, f"metrics {run.metrics}")
    check(run.session_id, "a session id")

    events = [e async for e in client.run_agent_stream("seed", "Again", session_id=run.session_id, user_id="ada")]
    kinds = [type(e).__name__ for e in events]
    check(isinstance(events[0], RunStartedEvent), f"first event {kinds[0]}")
    check(isinstance(events[-1], RunCompletedEvent), f"last event {kinds[-1]}")
    check(sum(isinstance(e, ToolCallStartedEvent) for e in events) == 3, f"events {kinds}")
    completed = [e for e in events if isinstance(e, ToolCallCompletedEvent)]
    check(len(completed) == 3 and all(e.tool.result and e.tool.metrics.duration >= 0.01 for e in completed), "tool results")
    check(any(isinstance(e, RunContentEvent) for e in events), f"content events {kinds}")
    check([e.event_index for e in events] == list(range(len(events))), "event_index 0, 1, 2 …")
    check(all(e.run_id == events[0].run_id and e.session_id == run.session_id for e in events), "ids")
    print(f"runs: ok ({len(events)} streamed events)")
    return run.session_id


async def continue_paused(client):
    paused = await client.run_agent("confirm", "Delete /tmp/x", user_id="bob")
    check(paused.is_paused, f"status {paused.status}")
    pending = paused.tools_requiring_confirmation
    check(len(pending) == 1 and pending[0].tool_name == "delete", f"pending {pending}")
    check(paused.tools_requiring_confirmation[0].tool_args == {"path": "/tmp/x"}, "args")
    pending[0].confirmed = True
    done = await client.continue_agent_run("confirm", paused.run_id, tools=paused.tools, session_id=paused.session_id)
    check(done.status == RunStatus.completed and done.content == "Done.", f"continued: {done.status} {done.content!r}")
    check(any(t.result == "deleted /tmp/x" for t in done.tools), f"tools {done.tools}")

    # Streamed, rejected this time.
    paused = None
    async for event in client.run_agent_stream("confirm", "Delete /tmp/x", user_id="bob"):
        if isinstance(event, RunPausedEvent):
            paused = event
    check(paused is not None and paused.tools_requiring_confirmation, "a RunPaused event with the call")
    for tool in paused.tools:
        tool.confirmed = False
        tool.confirmation_note = "not today"
    events = [
        e async for e in client.continue_agent_run_stream("confirm", paused.run_id, tools=paused.tools, session_id=paused.session_id)
    ]
    check(isinstance(events[0], RunContinuedEvent), f"first {type(events[0]).__name__}")
    check(isinstance(events[-1], RunCompletedEvent), f"last {type(events[-1]).__name__}")
    check(any("not today" in (t.result or "") for t in events[-1].tools), f"rejection {events[-1].tools}")
    print("continue: ok")


async def cancel(client):
    stream = client.run_agent_stream("slow", "Wait a long time", user_id="cy")
    first = await stream.__anext__()
    check(isinstance(first, RunStartedEvent), f"first {type(first).__name__}")
    await client.cancel_agent_run("slow", first.run_id)
    rest = [e async for e in stream]
    check(isinstance(rest[-1], RunCancelledEvent), f"last {type(rest[-1]).__name__}")
    runs = await client.get_session_runs(first.session_id)
    check(runs[0].status == "CANCELLED", f"stored status {runs[0].status}")
    print("cancel: ok")


def sse(lines):
    """(event, data) of SSE lines."""
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])


async def resume(client):
    # A background run: read two events, lose the connection, resume after the last one seen.
    async with httpx.AsyncClient(base_url=URL, timeout=30) as http:
        seen = []
        async with http.stream("POST", "/agents/slow/runs", data={"message": "wait", "stream": "true", "background": "true"}) as response:
            check(response.status_code == 200, f"status {response.status_code}")
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if len(seen) == 2:
                        break
        run_id, last = seen[0]["run_id"], seen[-1]["event_index"]
        async with http.stream("POST", f"/agents/slow/runs/{run_id}/resume", data={"last_event_index": str(last)}) as response:
            resumed = [item async for item in _collect(response.aiter_lines())]
    indices = [d["event_index"] for _, d in resumed if "event_index" in d]
    check(indices == list(range(last + 1, last + 1 + len(indices))), f"indices after {last}: {indices}")
    check(resumed[-1][0] == "RunCompleted", f"last {resumed[-1][0]}")
    check(any(name in ("subscribed", "replay") for name, _ in resumed), "a resume meta event")
    print(f"resume: ok (resumed after event {last}, {len(indices)} events)")


async def _collect(lines):
    name = None
    async for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])


async def sessions(client, session_id):
    page = await client.get_sessions(user_id="ada")
    check(page.meta.total_count == 1 and page.data[0].session_id == session_id, f"sessions {page}")
    check(page.data[0].session_name == "Please run all tasks", f"name {page.data[0].session_name!r}")
    detail = await client.get_session(session_id)
    check(detail.agent_id == "seed" and len(detail.chat_history) >= 10, f"detail {detail}")
    runs = await client.get_session_runs(session_id)
    check([r.run_input for r in runs] == ["Please run all tasks", "Again"], f"runs {[r.run_input for r in runs]}")
    check(all(r.status == "COMPLETED" and r.content for r in runs), "completed runs with content")
    one = await client.get_session_run(session_id, runs[1].run_id)
    check(one.run_id == runs[1].run_id, "one run")
    renamed = await client.rename_session(session_id, "Tasks")
    check(renamed.session_name == "Tasks", f"renamed {renamed.session_name}")
    await client.delete_session(session_id)
    try:
        await client.get_session(session_id)
        raise AssertionError("a deleted session must be a 404")
    except httpx.HTTPStatusError as err:
        check(err.response.status_code == 404, f"deleted: {err.response.status_code}")
    print("sessions: ok")


async def remote_agent():
    # An Agno program using the fanout agent as one of its own.
    agent = RemoteAgent(base_url=URL, agent_id="seed")
    check(agent.name == "seed", f"name {agent.name}")
    output = await agent.arun("Please run all tasks", user_id="dee")
    check("Task 3 completed in 10ms" in output.content, f"remote content {output.content!r}")
    text = ""
    async for event in agent.arun("Please run all tasks", stream=True, session_id=output.session_id):
        if isinstance(event, RunContentEvent):
            text += event.content
    check("Task 2 completed in 10ms" in text, f"remote streamed {text!r}")
    print("remote agent: ok")


async def main():
    client = AgentOSClient(base_url=URL)
    await discovery(client)
    session_id = await runs(client)
    await continue_paused(client)
    await cancel(client)
    await resume(client)
    await sessions(client, session_id)
    await remote_agent()
    print("agno client: all ok")


asyncio.run(main())
