// AG-UI's official client (npm @ag-ui/client, pinned by .ci/install-agui) against a fanout server.
//
//   node client.mjs <server url> [api key]
//
// The client is loaded from FANOUT_AGUI_NODE_MODULES. Its HttpAgent validates every event
// (schema) and the event order (verifier); anything it refuses fails the run, and any warning it
// prints ("[ag-ui]…", a stripped field, a dropped event) fails this script. Prints
// "agui client: all ok" when every check passed.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";

const [url, key] = process.argv.slice(2);
assert.ok(url, "usage: node client.mjs <server url> [api key]");
const modules = process.env.FANOUT_AGUI_NODE_MODULES;
assert.ok(modules, "FANOUT_AGUI_NODE_MODULES is not set");
const require = createRequire(path.join(modules, "index.js"));
const { HttpAgent } = require("@ag-ui/client");

// The client reports schema deviations and dropped events as warnings: here they are failures.
const warnings = [];
const warn = console.warn;
console.warn = (...args) => {
  warnings.push(args.map(String).join(" "));
  warn(...args);
};

const headers = key ? { Authorization: `Bearer ${key}` } : {};

function agent(route, threadId = randomUUID()) {
  return new HttpAgent({ url: `${url}${route}`, headers, threadId });
}

function say(agent, text) {
  agent.addMessage({ id: randomUUID(), role: "user", content: text });
}

/** Run `agent`, collecting the events its subscribers see. */
async function run(agent, parameters = {}) {
  const events = [];
  const outcome = {};
  const result = await agent.runAgent(parameters, {
    onEvent({ event }) {
      events.push(event);
    },
    onRunFinishedEvent(params) {
      outcome.type = params.outcome;
      outcome.interrupts = params.interrupts;
      outcome.pending = params.pendingToolCallIds;
    },
  });
  return { ...result, events, outcome, types: events.map((e) => e.type) };
}

function count(types, type) {
  return types.filter((t) => t === type).length;
}

/** A run of the seed agent: three calls with their results, then the summary. */
function checkSeedRun({ events, types, outcome, result }, threadId) {
  assert.equal(types[0], "RUN_STARTED");
  assert.equal(types.at(-1), "RUN_FINISHED");
  assert.equal(events[0].threadId, threadId);
  assert.equal(outcome.type, "success");
  assert.deepEqual(outcome.pending, [], "every call has its result");
  assert.equal(count(types, "TOOL_CALL_START"), 3, types.join(" "));
  assert.equal(count(types, "TOOL_CALL_ARGS"), 3);
  assert.equal(count(types, "TOOL_CALL_END"), 3);
  assert.equal(count(types, "TOOL_CALL_RESULT"), 3);
  const names = events.filter((e) => e.type === "TOOL_CALL_START").map((e) => e.toolCallName).sort();
  assert.deepEqual(names, ["atask1", "atask2", "atask3"]);
  for (const e of events.filter((e) => e.type === "TOOL_CALL_ARGS")) {
    assert.deepEqual(JSON.parse(e.delta), { delay: 10 });
  }
  const results = events.filter((e) => e.type === "TOOL_CALL_RESULT");
  for (const e of results) {
    assert.equal(e.role, "tool");
    assert.match(e.content, /^Task \d completed in 10ms$/);
  }
  // The summary streams as one message, after the calls' results.
  assert.equal(count(types, "TEXT_MESSAGE_START"), 1);
  assert.equal(count(types, "TEXT_MESSAGE_END"), 1);
  assert.ok(types.lastIndexOf("TOOL_CALL_RESULT") < types.indexOf("TEXT_MESSAGE_START"));
  const text = events
    .filter((e) => e.type === "TEXT_MESSAGE_CONTENT")
    .map((e) => e.delta)
    .join("");
  assert.match(text, /All tasks have finished/);
  assert.equal(result, text, "RUN_FINISHED's result is the answer");
  const finished = events.at(-1);
  assert.ok(finished.usage?.[0]?.inputTokens > 0, "RUN_FINISHED carries the usage");
  return { text, inputTokens: finished.usage[0].inputTokens };
}

/** The messages the client assembled from a seed run: the calls, their results, the answer. */
function checkSeedMessages(newMessages, text) {
  const withCalls = newMessages.filter((m) => m.role === "assistant" && m.toolCalls?.length);
  assert.equal(withCalls.length, 1, JSON.stringify(newMessages));
  assert.equal(withCalls[0].toolCalls.length, 3);
  const tools = newMessages.filter((m) => m.role === "tool");
  assert.equal(tools.length, 3);
  const callIds = new Set(withCalls[0].toolCalls.map((c) => c.id));
  for (const tool of tools) assert.ok(callIds.has(tool.toolCallId));
  const answer = newMessages.at(-1);
  assert.equal(answer.role, "assistant", JSON.stringify(newMessages, null, 1));
  assert.equal(answer.content, text);
}

// 1. The seed agent by its id: events, assembled messages, the result.
const threadId = randomUUID();
const seed = agent("/agents/seed/agui", threadId);
say(seed, "Please run all tasks with a delay of 10ms");
const first = await run(seed);
const { text, inputTokens } = checkSeedRun(first, threadId);
checkSeedMessages(first.newMessages, text);
console.log(`seed: ${first.types.length} events, answer of ${text.length} characters`);

// 2. A second run on the same thread: the server's stored session is its history, so the model
// reads more than it did the first time; the thread is one AgentOS session with two runs.
say(seed, "And once more");
const second = await run(seed);
const again = checkSeedRun(second, threadId);
assert.ok(again.inputTokens > inputTokens, `history seen: ${again.inputTokens} > ${inputTokens} input tokens`);
const runs = await fetch(`${url}/sessions/${threadId}/runs`, { headers });
assert.equal(runs.status, 200);
assert.equal((await runs.json()).length, 2, "the thread is one session of two runs");
console.log(`same thread: ${again.inputTokens} input tokens after ${inputTokens}`);

// 3. A new thread that brings its own conversation (nothing stored yet): it is the history.
const brought = agent("/agents/seed/agui");
brought.setMessages(seed.messages.filter((m) => m.role !== "reasoning"));
say(brought, "And once more");
const third = await run(brought);
const broughtRun = checkSeedRun(third, brought.threadId);
assert.ok(broughtRun.inputTokens > inputTokens, "the client's messages are the history");

// 4. POST /agui: the first registered agent (seed).
const first_ = agent("/agui");
say(first_, "Please run all tasks with a delay of 10ms");
checkSeedRun(await run(first_), first_.threadId);
console.log("/agui: the first agent answered");

// 5. Confirmation: the run finishes with an interrupt for the call; resuming approves it.
const confirm = agent("/agents/confirm/agui");
say(confirm, "Delete /tmp/x");
const paused = await run(confirm);
assert.equal(paused.outcome.type, "interrupt", paused.types.join(" "));
assert.equal(paused.outcome.interrupts.length, 1);
const [interrupt] = paused.outcome.interrupts;
assert.equal(interrupt.reason, "tool_call_confirmation");
assert.equal(interrupt.metadata.fanout.toolName, "delete");
const started = paused.events.find((e) => e.type === "TOOL_CALL_START");
assert.equal(interrupt.toolCallId, started.toolCallId, "the interrupt names the streamed call");
assert.equal(count(paused.types, "TOOL_CALL_RESULT"), 0, "the call waits");
assert.deepEqual(confirm.pendingInterrupts.map((i) => i.id), [interrupt.id]);
// The client itself refuses a run that does not answer the interrupt.
say(confirm, "Never mind");
await assert.rejects(run(confirm), /pending interrupt/);
const resumed = await run(confirm, {
  resume: [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true } }],
});
assert.equal(resumed.outcome.type, "success", resumed.types.join(" "));
const approved = resumed.events.find((e) => e.type === "TOOL_CALL_RESULT");
assert.equal(approved.toolCallId, interrupt.toolCallId);
assert.equal(approved.content, "deleted /tmp/x");
assert.equal(resumed.result, "Done.");
assert.equal(resumed.events[0].runId, paused.events[0].runId, "the paused run goes on");
assert.deepEqual(confirm.pendingInterrupts, []);
// The conversation the client holds: the call (announced once, its arguments whole), its result,
// the answer.
const call = confirm.messages.flatMap((m) => m.toolCalls ?? []).filter((c) => c.id === interrupt.toolCallId);
assert.equal(call.length, 1, JSON.stringify(confirm.messages));
assert.deepEqual(JSON.parse(call[0].function.arguments), { path: "/tmp/x" });
const answered = confirm.messages.filter((m) => m.role === "tool" && m.toolCallId === interrupt.toolCallId);
assert.equal(answered.length, 1);
assert.equal(confirm.messages.at(-1).content, "Done.");
console.log("confirm: interrupt, resumed with approval");

// 6. Rejecting: the call does not run, the model is told.
const reject = agent("/agents/confirm/agui");
say(reject, "Delete /tmp/x");
const paused2 = await run(reject);
const [interrupt2] = paused2.outcome.interrupts;
const rejected = await run(reject, {
  resume: [{ interruptId: interrupt2.id, status: "resolved", payload: { approved: false, note: "keep it" } }],
});
const refusal = rejected.events.find((e) => e.type === "TOOL_CALL_RESULT");
assert.match(refusal.content, /reject/i);
assert.match(refusal.content, /keep it/);
assert.equal(rejected.outcome.type, "success");
console.log("confirm: rejected");

// 7. Errors before the stream: an unknown agent (404), an interrupt the thread does not have.
await assert.rejects(run(agent("/agents/nope/agui")), (err) => err.status === 404);
const stray = agent("/agents/confirm/agui");
say(stray, "Delete /tmp/x");
await assert.rejects(
  run(stray, { resume: [{ interruptId: "call_nope", status: "resolved" }] }),
  (err) => err.status === 409 || err.status === 422,
);
console.log("errors: 404 and a resume without a paused run refused");

// 8. A team: its members' work is attributed to them (SUBAGENT_STARTED, their events tagged with
// subagentRunId, SUBAGENT_FINISHED); a member that fails is a SUBAGENT_ERROR, the run goes on.
const team = agent("/agents/team/agui");
say(team, "Go");
const teamRun = await run(team);
assert.equal(teamRun.outcome.type, "success", teamRun.types.join(" "));
const subagents = teamRun.events.filter((e) => e.type === "SUBAGENT_STARTED");
assert.deepEqual(subagents.map((e) => e.name).sort(), ["failing", "helper"]);
const helper = subagents.find((e) => e.name === "helper");
const leaderCalls = teamRun.events.filter((e) => e.type === "TOOL_CALL_START" && !e.subagentRunId);
assert.ok(leaderCalls.some((c) => c.toolCallId === helper.parentToolCallId), "a member runs under its call");
const helperEvents = teamRun.events.filter((e) => e.subagentRunId === helper.subagentRunId);
const helperTypes = helperEvents.map((e) => e.type);
assert.equal(helperTypes[0], "SUBAGENT_STARTED");
assert.ok(helperTypes.includes("TOOL_CALL_START") && helperTypes.includes("TOOL_CALL_RESULT"), helperTypes.join(" "));
assert.ok(helperTypes.includes("TEXT_MESSAGE_CONTENT"), helperTypes.join(" "));
const helperDone = helperEvents.at(-1);
assert.equal(helperDone.type, "SUBAGENT_FINISHED");
assert.equal(helperDone.result, "Noted.");
const failing = subagents.find((e) => e.name === "failing");
const failed = teamRun.events.find((e) => e.type === "SUBAGENT_ERROR");
assert.equal(failed?.subagentRunId, failing.subagentRunId, teamRun.types.join(" "));
// The answer is the leader's alone.
const leaderText = teamRun.events.filter((e) => e.type === "TEXT_MESSAGE_CONTENT" && !e.subagentRunId);
assert.match(leaderText.map((e) => e.delta).join(""), /noted: x|Noted\./);
console.log(`team: ${subagents.length} members, one failed`);

// 9. A member's call that needs approval pauses the whole run: the interrupt names the member's
// call as the paused run lists it (the id of the call that ran the member, then its own).
const careful = agent("/agents/careful/agui");
say(careful, "Remove /tmp/y");
const carefulPaused = await run(careful);
assert.equal(carefulPaused.outcome.type, "interrupt", carefulPaused.types.join(" "));
const [nested] = carefulPaused.outcome.interrupts;
assert.match(nested.id, /^call_1_1\/call_1_1$/);
assert.equal(nested.metadata.fanout.toolName, "remove");
assert.ok(
  carefulPaused.events.some((e) => e.type === "TOOL_CALL_START" && e.toolCallId === nested.toolCallId),
  "the interrupt names a call the client has",
);
const carefulDone = await run(careful, { resume: [{ interruptId: nested.id, status: "resolved" }] });
assert.equal(carefulDone.outcome.type, "success", carefulDone.types.join(" "));
assert.ok(
  carefulDone.events.some((e) => e.type === "TOOL_CALL_RESULT" && e.content === "removed /tmp/y"),
  carefulDone.types.join(" "),
);
assert.match(carefulDone.result, /Removed\./);
const carefulCalls = careful.messages.flatMap((m) => m.toolCalls ?? []);
assert.equal(new Set(carefulCalls.map((c) => c.id)).size, carefulCalls.length, "each call once");
for (const c of carefulCalls) JSON.parse(c.function.arguments); // arguments whole, not sent twice
console.log("team: a member's call approved through the interrupt");

// 10. A run that fails ends with RUN_ERROR.
const broken = agent("/agents/broken/agui");
say(broken, "Go");
const brokenEvents = [];
try {
  await broken.runAgent({}, { onEvent: ({ event }) => void brokenEvents.push(event) });
} catch {
  // The client may also reject the run; the events say what happened.
}
const runError = brokenEvents.at(-1);
assert.equal(runError?.type, "RUN_ERROR", brokenEvents.map((e) => e.type).join(" "));
assert.match(runError.message, /missing/);
assert.equal(typeof runError.code, "string");
console.log(`error: RUN_ERROR (${runError.code})`);

// 11. With a key: a client without it is refused.
if (key) {
  const anonymous = new HttpAgent({ url: `${url}/agui` });
  say(anonymous, "Hi");
  await assert.rejects(anonymous.runAgent(), (err) => err.status === 401);
  console.log("auth: refused without the key, served with it");
}

const agui = warnings.filter((w) => w.includes("[ag-ui]"));
assert.deepEqual(agui, [], "the client warned");
console.log("agui client: all ok");
