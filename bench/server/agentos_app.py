"""The AgentOS side of bench/server/run.sh: a seed-like Agno agent (three async tools that sleep
`delay` ms) on OpenAIChat at OPENAI_BASE_URL (the loopback scripted server), sessions in memory,
served by uvicorn on PORT.

AGNO_INTERFACES (comma-separated, default none) adds Agno's interfaces for the same agent: `agui`
(`AGUI(agent=agent)`, `POST /agui`) and `a2a` (`a2a_interface=True`, `/a2a/agents/seed/v1/…`).
They import `ag-ui-protocol` and `a2a-sdk`: run them with bench/server/.venv's Python
(bench/server/install-interfaces)."""

import asyncio
import os

import uvicorn
from agno.agent import Agent
from agno.db.in_memory import InMemoryDb
from agno.models.openai import OpenAIChat
from agno.os import AgentOS


async def atask1(delay: int) -> str:
    """Simulate a task

    Args:
        delay: Milliseconds to wait
    """
    await asyncio.sleep(delay / 1000)
    return f"Task 1 completed in {delay}ms"


async def atask2(delay: int) -> str:
    """Simulate a task

    Args:
        delay: Milliseconds to wait
    """
    await asyncio.sleep(delay / 1000)
    return f"Task 2 completed in {delay}ms"


async def atask3(delay: int) -> str:
    """Simulate a task

    Args:
        delay: Milliseconds to wait
    """
    await asyncio.sleep(delay / 1000)
    return f"Task 3 completed in {delay}ms"


agent = Agent(
    id="seed",
    name="seed",
    model=OpenAIChat(id="gpt-5-mini", base_url=os.environ["OPENAI_BASE_URL"], api_key="bench"),
    tools=[atask2, atask1, atask3],
    db=InMemoryDb(),
    telemetry=False,
)
wanted = {name for name in os.environ.get("AGNO_INTERFACES", "").split(",") if name}
interfaces = []
if "agui" in wanted:
    from agno.os.interfaces.agui import AGUI

    interfaces.append(AGUI(agent=agent))
app = AgentOS(agents=[agent], interfaces=interfaces, a2a_interface="a2a" in wanted, telemetry=False).get_app()

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", access_log=False)
