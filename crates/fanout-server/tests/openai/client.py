"""OpenAI's official Python client (PyPI openai, pinned by .ci/install-agno) against a fanout
server's OpenAI-compatible endpoints: models, chat completions (plain, streamed, the stream
helper, with history), responses (plain, streamed, continued, branched, retrieved, not stored),
errors, and the API key.

Run by tests/openai.rs: python client.py http://127.0.0.1:PORT http://127.0.0.1:KEYED_PORT KEY
"""

import json
import sys
import urllib.error
import urllib.request

import openai
from openai import OpenAI

URL, KEYED_URL, KEY = sys.argv[1:4]
client = OpenAI(base_url=f"{URL}/v1", api_key="unused", max_retries=0, timeout=60)
ASK = [{"role": "user", "content": "Run all tasks"}]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def agentos(path):
    """A GET on the server's AgentOS API: (status, JSON)."""
    try:
        with urllib.request.urlopen(f"{URL}{path}", timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def cancel(agent, run_id):
    """Cancel a run going on, over AgentOS."""
    request = urllib.request.Request(f"{URL}/agents/{agent}/runs/{run_id}/cancel", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        check(response.status == 200, f"cancel: {response.status}")


def raises(kind, call):
    try:
        call()
    except kind as err:
        return err
    raise AssertionError(f"expected {kind.__name__}")


def fanout(obj):
    return (obj.model_extra or {}).get("fanout") or {}


def models():
    ids = sorted(m.id for m in client.models.list().data)
    check(ids == ["confirm", "seed", "slow"], f"models: {ids}")
    seed = client.models.retrieve("seed")
    check(seed.id == "seed" and seed.owned_by == "fanout" and seed.object == "model", f"model: {seed}")
    err = raises(openai.NotFoundError, lambda: client.models.retrieve("nope"))
    check(err.code == "model_not_found", f"unknown model: {err.body}")


def chat():
    completion = client.chat.completions.create(model="seed", messages=ASK)
    content = completion.choices[0].message.content
    check(completion.object == "chat.completion" and completion.id.startswith("chatcmpl-"), f"{completion}")
    check("Task 1 completed in 10ms" in content and "Task 3 completed" in content, f"content: {content}")
    check(completion.choices[0].finish_reason == "stop", f"{completion}")
    usage = completion.usage
    check(usage.prompt_tokens > 0 and usage.completion_tokens > 0, f"usage: {usage}")
    check(usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, f"usage: {usage}")
    # Not stored (OpenAI's default): AgentOS does not know the run.
    run_id = completion.id.removeprefix("chatcmpl-")
    status, _ = agentos(f"/agents/seed/runs/{run_id}")
    check(status == 404, f"an unstored chat completion's run is stored: {status}")

    # Streamed, with usage: the same answer, tool calls told in the vendor field.
    stream = client.chat.completions.create(
        model="seed", messages=ASK, stream=True, stream_options={"include_usage": True}
    )
    text, roles, finishes, tools, ids, streamed_usage = "", [], [], [], set(), None
    for chunk in stream:
        check(chunk.object == "chat.completion.chunk", f"{chunk}")
        ids.add(chunk.id)
        if chunk.usage:
            streamed_usage = chunk.usage
        tools += [fanout(chunk)["event"]] if fanout(chunk) else []
        for choice in chunk.choices:
            roles += [choice.delta.role] if choice.delta.role else []
            text += choice.delta.content or ""
            finishes += [choice.finish_reason] if choice.finish_reason else []
    check(roles == ["assistant"] and finishes == ["stop"], f"roles {roles}, finishes {finishes}")
    check(text == content, f"streamed {text!r} != {content!r}")
    check(len(ids) == 1, f"one completion, one id: {ids}")
    check(tools.count("tool_call_started") == 3 and tools.count("tool_call_completed") == 3, f"tools: {tools}")
    check(streamed_usage is not None and streamed_usage.total_tokens == usage.total_tokens, f"{streamed_usage}")

    # The stream helper accumulates the same answer.
    with client.chat.completions.stream(model="seed", messages=ASK) as helper:
        for _ in helper:
            pass
        final = helper.get_final_completion()
    check(final.choices[0].message.content == content, f"helper: {final}")

    # History: the messages before the last user message are the conversation so far.
    again = client.chat.completions.create(
        model="seed",
        messages=[
            {"role": "system", "content": "The agent keeps its own system prompt."},
            *ASK,
            {"role": "assistant", "content": content},
            {"role": "user", "content": "Run all tasks"},
        ],
        user="ada",
    )
    check(again.usage.prompt_tokens > usage.prompt_tokens, f"history not seen: {again.usage} vs {usage}")

    # A run that pauses for confirmation says so; stored, it waits in AgentOS.
    paused = client.chat.completions.create(
        model="confirm", messages=[{"role": "user", "content": "Delete /tmp/x"}], store=True
    )
    note = paused.choices[0].message.content
    run_id = paused.id.removeprefix("chatcmpl-")
    check("paused" in note and "delete" in note and f"/agents/confirm/runs/{run_id}/continue" in note, note)
    status, run = agentos(f"/agents/confirm/runs/{run_id}")
    check(status == 200 and run["status"] == "PAUSED", f"paused run: {status} {run}")

    # A run that fails mid-stream (here: cancelled over AgentOS) ends with an error the client raises.
    stream = client.chat.completions.create(model="slow", messages=ASK, stream=True)
    first = next(stream)
    cancel("slow", first.id.removeprefix("chatcmpl-"))
    err = raises(openai.APIError, lambda: list(stream))
    check("cancelled" in err.message, f"mid-stream error: {err.message}")

    err = raises(openai.NotFoundError, lambda: client.chat.completions.create(model="nope", messages=ASK))
    check(err.code == "model_not_found" and err.param == "model", f"{err.body}")
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]
    raises(openai.BadRequestError, lambda: client.chat.completions.create(model="seed", messages=image))


def session_of(response):
    return fanout(response).get("session_id")


def responses():
    first = client.responses.create(model="seed", input="Run all tasks")
    check(first.id.startswith("resp_") and first.status == "completed", f"{first}")
    check("Task 2 completed in 10ms" in first.output_text, f"output: {first.output_text}")
    check(first.usage.input_tokens > 0 and first.usage.output_tokens > 0, f"usage: {first.usage}")
    session = session_of(first)
    status, run = agentos(f"/agents/seed/runs/{first.id.removeprefix('resp_')}")
    check(status == 200 and run["session_id"] == session and run["status"] == "COMPLETED", f"{run}")

    # Continued, streamed with the helper: the same session, and the model saw the first turn.
    with client.responses.stream(model="seed", input="Run all tasks", previous_response_id=first.id) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        second = stream.get_final_response()
    check(second.status == "completed" and "".join(deltas) == second.output_text, f"{second}")
    check(second.previous_response_id == first.id and session_of(second) == session, f"{second}")
    check(second.usage.input_tokens > first.usage.input_tokens, f"{second.usage} vs {first.usage}")
    _, runs = agentos(f"/sessions/{session}/runs")
    check([r["run_id"] for r in runs] == [first.id[5:], second.id[5:]], f"session runs: {runs}")

    # Raw events (stream=True): numbered, created first, completed last.
    events = list(client.responses.create(model="seed", input="Run all tasks", stream=True))
    types = [event.type for event in events]
    check(types[0] == "response.created" and types[-1] == "response.completed", f"{types}")
    check([e.sequence_number for e in events] == list(range(len(events))), "sequence numbers")
    check("response.output_text.delta" in types, f"{types}")

    # Continuing the first response again (no longer its session's latest) branches: a new
    # session whose history is the first exchange — the same prompt the second run saw.
    branch = client.responses.create(model="seed", input="Run all tasks", previous_response_id=first.id)
    check(session_of(branch) not in (None, session), f"branch session: {session_of(branch)}")
    check(branch.usage.input_tokens == second.usage.input_tokens, f"{branch.usage} vs {second.usage}")
    # Continuing the latest stays in its session.
    third = client.responses.create(model="seed", input="Run all tasks", previous_response_id=second.id)
    check(session_of(third) == session, f"third session: {session_of(third)}")

    got = client.responses.retrieve(first.id)
    check(got.status == "completed" and got.output_text == first.output_text, f"retrieved: {got}")
    check(got.usage.total_tokens == first.usage.total_tokens, f"retrieved usage: {got.usage}")

    # Not stored: answered, then unknown.
    kept_nowhere = client.responses.create(model="seed", input="Run all tasks", store=False)
    check("Task 1 completed" in kept_nowhere.output_text and kept_nowhere.store is False, f"{kept_nowhere}")
    raises(
        openai.NotFoundError,
        lambda: client.responses.create(model="seed", input="Again", previous_response_id=kept_nowhere.id),
    )
    raises(openai.NotFoundError, lambda: client.responses.retrieve(kept_nowhere.id))
    raises(openai.NotFoundError, lambda: client.responses.create(model="nope", input="Hi"))

    # A run cancelled mid-stream ends with response.failed, its status cancelled.
    stream = client.responses.create(model="slow", input="wait", stream=True)
    created = next(stream)
    check(created.type == "response.created", f"{created}")
    cancel("slow", created.response.id.removeprefix("resp_"))
    last = list(stream)[-1]
    check(last.type == "response.failed" and last.response.status == "cancelled", f"{last}")
    check(client.responses.retrieve(created.response.id).status == "cancelled", "retrieved cancelled")

    # A paused run, streamed: a completed response whose text says so.
    with client.responses.stream(model="confirm", input="Delete /tmp/x") as stream:
        paused = stream.get_final_response()
    check("paused" in paused.output_text and "/continue" in paused.output_text, paused.output_text)


def api_key():
    wrong = OpenAI(base_url=f"{KEYED_URL}/v1", api_key="wrong", max_retries=0, timeout=60)
    err = raises(openai.AuthenticationError, lambda: wrong.models.list())
    check(err.code == "invalid_api_key", f"{err.body}")
    right = OpenAI(base_url=f"{KEYED_URL}/v1", api_key=KEY, max_retries=0, timeout=60)
    completion = right.chat.completions.create(model="seed", messages=ASK)
    check("Task 1 completed" in completion.choices[0].message.content, f"{completion}")


models()
print("models ok")
chat()
print("chat completions ok")
responses()
print("responses ok")
api_key()
print("api key ok")
print("openai client: all ok")
