"""Agno's own A2A client (PyPI agno, A2A 0.3) against a fanout server's A2A routes.

Run by tests/a2a.rs with the server's URL: python agno_client.py http://127.0.0.1:PORT
"""

import asyncio
import sys

from agno.client.a2a import A2AClient

URL = sys.argv[1]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


async def main():
    base = f"{URL}/a2a/agents/seed"
    for protocol in ["rest", "json-rpc"]:
        client = A2AClient(base, protocol=protocol)
        result = await client.send_message("Please run all tasks")
        check(result.is_completed, f"{protocol}: status {result.status}")
        check("Task 1 completed in 10ms" in result.content, f"{protocol}: content {result.content!r}")
        check(result.task_id and result.context_id, f"{protocol}: ids")

        events = [e async for e in client.stream_message("Again", context_id=result.context_id)]
        kinds = [e.event_type for e in events]
        check(kinds[0] == "task" and kinds[-1] == "completed" and events[-1].is_final, f"{protocol}: {kinds}")
        streamed = "".join(e.content or "" for e in events if e.event_type == "content")
        check("Task 3 completed in 10ms" in streamed, f"{protocol}: streamed {streamed!r}")
        check(all(e.context_id == result.context_id for e in events[1:]), f"{protocol}: the same context")
        print(f"agno {protocol}: ok ({len(events)} streamed events)")

    card = await A2AClient(base).aget_agent_card()
    check(card is not None and card.name == "seed" and card.url == base, f"card {card}")
    paused = await A2AClient(f"{URL}/a2a/agents/confirm").send_message("Delete /tmp/x")
    check(paused.status == "input-required", f"confirm: {paused.status}")
    print("agno a2a client: all ok")


asyncio.run(main())
