"""The official A2A Python SDK (PyPI a2a-sdk 1.x) against a fanout server's A2A routes.

Run by tests/a2a.rs with two servers' URLs, the second one requiring KEY:
    python client.py http://127.0.0.1:PORT http://127.0.0.1:PORT2 KEY

Over both bindings (HTTP+JSON and JSON-RPC): the card, a blocking message, a stream, get task,
a second message in the same context, list tasks, a non-blocking message cancelled, errors, a
run paused for confirmation continued by a message; then the card's bearer scheme and the SDK's
AuthInterceptor against the keyed server.
"""

import asyncio
import sys
import uuid

import httpx

from google.protobuf.json_format import MessageToDict, ParseDict

from a2a.client import (
    A2ACardResolver,
    A2AClientError,
    AuthInterceptor,
    ClientConfig,
    ClientFactory,
    CredentialService,
)
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.constants import TransportProtocol
from a2a.utils.errors import (
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

URL, KEYED_URL, KEY = sys.argv[1:4]
BINDINGS = [TransportProtocol.HTTP_JSON, TransportProtocol.JSONRPC]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def state_name(state):
    return TaskState.Name(state)


def message(parts, task_id="", context_id=""):
    return ParseDict(
        {
            "messageId": str(uuid.uuid4()),
            "role": "ROLE_USER",
            "parts": parts,
            "taskId": task_id,
            "contextId": context_id,
        },
        Message(),
    )


async def resolve_card(agent, url=URL):
    async with httpx.AsyncClient() as http:
        return await A2ACardResolver(http, f"{url}/a2a/agents/{agent}").get_agent_card()


async def client_for(agent, binding, streaming, url=URL, interceptors=None):
    config = ClientConfig(streaming=streaming, supported_protocol_bindings=[binding])
    return ClientFactory(config).create(await resolve_card(agent, url), interceptors=interceptors)


async def send(client, msg, **config):
    request = SendMessageRequest(message=msg, configuration=SendMessageConfiguration(**config))
    return [event async for event in client.send_message(request)]


async def send_task(client, msg, **config):
    events = await send(client, msg, **config)
    check(len(events) == 1 and events[0].HasField("task"), f"one task: {events}")
    return events[0].task


def texts(parts):
    return [p.text for p in parts if p.WhichOneof("content") == "text"]


def data_parts(parts):
    return [MessageToDict(p)["data"] for p in parts if p.WhichOneof("content") == "data"]


async def card():
    card = await resolve_card("seed")
    check(card.name == "seed", f"name {card.name}")
    interfaces = {(i.protocol_binding, i.url, i.protocol_version) for i in card.supported_interfaces}
    base = f"{URL}/a2a/agents/seed"
    check(interfaces == {("HTTP+JSON", base, "1.0"), ("JSONRPC", base, "1.0")}, f"interfaces {interfaces}")
    check(card.capabilities.streaming, "streaming")
    check(list(card.skills[0].tags) == ["atask2", "atask1", "atask3"], f"skills {card.skills}")
    check(not card.security_schemes, "no security without a key")
    print("card: ok")


async def blocking_and_history(binding):
    c = await client_for("seed", binding, False)
    task = await send_task(c, message([{"text": "Please run all tasks"}]))
    check(state_name(task.status.state) == "TASK_STATE_COMPLETED", f"state {task.status}")
    answer = texts(task.artifacts[0].parts)[0]
    check("Task 1 completed in 10ms" in answer, f"answer {answer!r}")
    check(task.status.message.role == Role.ROLE_AGENT and texts(task.status.message.parts) == [answer], "status message")
    check(task.context_id and task.id, "ids")
    check(task.history[0].role == Role.ROLE_USER and texts(task.history[0].parts) == ["Please run all tasks"], "history")
    calls = [d for m in task.history for d in data_parts(m.parts) if "toolCalls" in d]
    check(len(calls) == 1 and len(calls[0]["toolCalls"]) == 3, f"tool calls in history: {calls}")
    first_tokens = task.metadata["fanout"]["usage"]["inputTokens"]

    got = await c.get_task(GetTaskRequest(id=task.id))
    check(state_name(got.status.state) == "TASK_STATE_COMPLETED", f"get {got.status}")
    check(texts(got.artifacts[0].parts) == [answer], "get: the answer")
    short = await c.get_task(GetTaskRequest(id=task.id, history_length=1))
    check(len(short.history) == 1, f"historyLength 1: {len(short.history)}")

    # The same context: the run sees the conversation so far (its prompt is longer).
    second = await send_task(c, message([{"text": "Again"}], context_id=task.context_id))
    check(second.context_id == task.context_id and second.id != task.id, "same context, new task")
    check(state_name(second.status.state) == "TASK_STATE_COMPLETED", f"second {second.status}")
    second_tokens = second.metadata["fanout"]["usage"]["inputTokens"]
    check(second_tokens > first_tokens, f"history seen: {first_tokens} then {second_tokens} input tokens")
    listed = await c.list_tasks(ListTasksRequest(context_id=task.context_id))
    check([t.id for t in listed.tasks] == [second.id, task.id], f"list {[t.id for t in listed.tasks]}")

    # A completed task takes no more messages, and cannot be cancelled.
    try:
        await send(c, message([{"text": "more"}], task_id=task.id, context_id=task.context_id))
        raise AssertionError("a message to a completed task must fail")
    except UnsupportedOperationError:
        pass
    try:
        await c.cancel_task(CancelTaskRequest(id=task.id))
        raise AssertionError("cancelling a completed task must fail")
    except TaskNotCancelableError:
        pass
    try:
        await c.get_task(GetTaskRequest(id="no-such-task"))
        raise AssertionError("an unknown task must fail")
    except TaskNotFoundError:
        pass
    await c.close()
    print(f"{binding.value}: blocking, get, history, list, errors: ok")


async def streaming(binding):
    c = await client_for("seed", binding, True)
    events = await send(c, message([{"text": "Stream all tasks"}]))
    kinds = [e.WhichOneof("payload") for e in events]
    check(kinds[0] == "task" and state_name(events[0].task.status.state) == "TASK_STATE_SUBMITTED", f"first {kinds}")
    task_id = events[0].task.id
    updates = [e.status_update for e in events if e.HasField("status_update")]
    check(all(u.task_id == task_id for u in updates), "task ids")
    check(state_name(updates[0].status.state) == "TASK_STATE_WORKING", "working first")
    started = [d for u in updates for d in data_parts(u.status.message.parts) if d.get("event") == "toolCallStarted"]
    finished = [d for u in updates for d in data_parts(u.status.message.parts) if d.get("event") == "toolCallCompleted"]
    check(len(started) == 3 and len(finished) == 3, f"tool activity {started} {finished}")
    check(kinds[-1] == "status_update", f"last {kinds[-1]}")
    final = events[-1].status_update.status
    check(state_name(final.state) == "TASK_STATE_COMPLETED", f"final {final}")
    first_artifact = kinds.index("artifact_update")
    check(first_artifact > kinds.index("status_update"), f"order {kinds}")
    answer = ""
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    for chunk in chunks:
        text = "".join(texts(chunk.artifact.parts))
        answer = answer + text if chunk.append else text
    check(chunks[-1].last_chunk and not any(ch.last_chunk for ch in chunks[:-1]), "lastChunk once, at the end")
    check(answer == texts(final.message.parts)[0] and "Task 3 completed" in answer, f"streamed answer {answer!r}")
    got = await c.get_task(GetTaskRequest(id=task_id))
    check(texts(got.artifacts[0].parts) == [answer], "the stored answer is the streamed one")
    await c.close()
    print(f"{binding.value}: stream ok ({len(events)} events)")


async def cancel(binding):
    c = await client_for("slow", binding, False)
    task = await send_task(c, message([{"text": "wait"}]), return_immediately=True)
    check(state_name(task.status.state) == "TASK_STATE_WORKING", f"returned at once: {task.status}")
    # A streaming client subscribes to the working task: it opens with the task, and follows it
    # to its end, here the cancellation.
    s = await client_for("slow", binding, True)
    updates = s.subscribe(SubscribeToTaskRequest(id=task.id))
    first = await updates.__anext__()
    check(first.HasField("task") and first.task.id == task.id, f"subscribing opens with the task: {first}")
    cancelled = await c.cancel_task(CancelTaskRequest(id=task.id))
    check(state_name(cancelled.status.state) == "TASK_STATE_CANCELED", f"cancelled {cancelled.status}")
    rest = [event async for event in updates]
    check(
        rest and rest[-1].HasField("status_update")
        and state_name(rest[-1].status_update.status.state) == "TASK_STATE_CANCELED",
        f"the subscription ends cancelled: {rest[-1:]}",
    )
    got = await c.get_task(GetTaskRequest(id=task.id))
    check(state_name(got.status.state) == "TASK_STATE_CANCELED", f"then {got.status}")
    # An ended task has no more updates to subscribe to.
    try:
        async for _ in s.subscribe(SubscribeToTaskRequest(id=task.id)):
            pass
        raise AssertionError("subscribing to a cancelled task must fail")
    except UnsupportedOperationError:
        pass
    await s.close()
    await c.close()
    print(f"{binding.value}: cancel ok")


async def confirmation(binding):
    streamed = binding == TransportProtocol.JSONRPC
    c = await client_for("confirm", binding, streamed)
    if streamed:
        events = await send(c, message([{"text": "Delete /tmp/x"}]))
        status = events[-1].status_update.status
        task_id, context_id = events[0].task.id, events[0].task.context_id
    else:
        task = await send_task(c, message([{"text": "Delete /tmp/x"}]))
        status, task_id, context_id = task.status, task.id, task.context_id
    check(state_name(status.state) == "TASK_STATE_INPUT_REQUIRED", f"paused {status}")
    pending = [d for d in data_parts(status.message.parts) if "pendingCalls" in d][0]["pendingCalls"]
    check(len(pending) == 1 and pending[0]["name"] == "delete" and pending[0]["arguments"] == {"path": "/tmp/x"}, f"{pending}")
    got = await c.get_task(GetTaskRequest(id=task_id))
    check(state_name(got.status.state) == "TASK_STATE_INPUT_REQUIRED", f"stored as waiting: {got.status}")

    if streamed:
        # The plain-text answer, streamed.
        events = await send(c, message([{"text": "yes"}], task_id=task_id, context_id=context_id))
        check(events[0].task.id == task_id, "the same task")
        final = events[-1].status_update.status
    else:
        approval = [{"data": {"approved": True, "toolCallId": pending[0]["toolCallId"]}}]
        done = await send_task(c, message(approval, task_id=task_id, context_id=context_id))
        check(done.id == task_id and texts(done.artifacts[0].parts) == ["Done."], f"done {done}")
        final = done.status
    check(state_name(final.state) == "TASK_STATE_COMPLETED", f"continued {final}")
    check(texts(final.message.parts) == ["Done."], f"answer {final.message}")
    got = await c.get_task(GetTaskRequest(id=task_id))
    results = [d["toolResult"] for m in got.history for d in data_parts(m.parts) if "toolResult" in d]
    check(results and results[0]["result"] == "deleted /tmp/x", f"the call ran: {results}")
    await c.close()
    print(f"{binding.value}: confirmation ok")


class Key(CredentialService):
    async def get_credentials(self, security_scheme_name, context):
        return KEY if security_scheme_name == "bearer" else None


async def auth():
    card = await resolve_card("seed", KEYED_URL)
    bare = ClientFactory(ClientConfig(streaming=False, supported_protocol_bindings=[TransportProtocol.HTTP_JSON])).create(card)
    scheme = card.security_schemes["bearer"].http_auth_security_scheme
    check(scheme.scheme == "Bearer", f"scheme {card.security_schemes}")
    check("bearer" in card.security_requirements[0].schemes, f"requirements {card.security_requirements}")
    try:
        await send(bare, message([{"text": "hi"}]))
        raise AssertionError("a message without the key must fail")
    except A2AClientError as err:
        check("401" in str(err), f"unauthorized: {err}")
    await bare.close()
    for binding in BINDINGS:
        keyed = await client_for("seed", binding, False, url=KEYED_URL, interceptors=[AuthInterceptor(Key())])
        task = await send_task(keyed, message([{"text": "Run all tasks"}]))
        check(state_name(task.status.state) == "TASK_STATE_COMPLETED", f"with the key: {task.status}")
        await keyed.close()
    print("auth: ok")


async def main():
    await card()
    for binding in BINDINGS:
        await blocking_and_history(binding)
        await streaming(binding)
        await cancel(binding)
        await confirmation(binding)
    await auth()
    print("a2a client: all ok")


asyncio.run(main())
