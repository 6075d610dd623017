"""Agno's side of the cross-framework comparison (agno 3.1.10), against the same scripted
OpenAI-compatible server as fanout (OPENAI_BASE_URL).

Usage: python bench.py <seed | fanout N | sync64 | sync16_blocking | instantiate | throughput K | team_arun | team_run>
"""
import asyncio
import json
import os
import sys
import time
import tracemalloc

from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.utils.log import logger

BASE_URL = os.environ.get("OPENAI_BASE_URL")


def model():
    return OpenAIChat(id="gpt-5-mini", base_url=BASE_URL)


async def atask1(delay: int):
    """Simulate a task that takes a random amount of time to complete
    Args:
        delay (int): The amount of time to delay the task
    """
    logger.info("Task 1 has started")
    for _ in range(delay):
        await asyncio.sleep(1)
        logger.info("Task 1 has slept for 1s")
    logger.info("Task 1 has completed")
    return f"Task 1 completed in {delay:.2f}s"


async def atask2(delay: int):
    """Simulate a task that takes a random amount of time to complete
    Args:
        delay (int): The amount of time to delay the task
    """
    logger.info("Task 2 has started")
    for _ in range(delay):
        await asyncio.sleep(1)
        logger.info("Task 2 has slept for 1s")
    logger.info("Task 2 has completed")
    return f"Task 2 completed in {delay:.2f}s"


async def atask3(delay: int):
    """Simulate a task that takes a random amount of time to complete
    Args:
        delay (int): The amount of time to delay the task
    """
    logger.info("Task 3 has started")
    for _ in range(delay):
        await asyncio.sleep(1)
        logger.info("Task 3 has slept for 1s")
    logger.info("Task 3 has completed")
    return f"Task 3 completed in {delay:.2f}s"


def make_async(i):
    async def task(delay: float):
        """Simulate a task that takes some time
        Args:
            delay (float): Seconds to wait
        """
        await asyncio.sleep(delay)
        return f"completed in {delay:.2f}s"

    task.__name__ = f"t{i}"
    return task


def make_sync(i):
    def task(delay: float):
        """Simulate a blocking task
        Args:
            delay (float): Seconds to wait
        """
        time.sleep(delay)
        return f"completed in {delay:.2f}s"

    task.__name__ = f"t{i}"
    return task


def main():
    scenario = sys.argv[1] if len(sys.argv) > 1 else "seed"
    prompt = "Please run all tasks"
    if scenario == "seed":
        agent = Agent(model=model(), tools=[atask2, atask1, atask3], markdown=True)
        asyncio.run(agent.aprint_response("Please run all tasks with a delay of 3s", stream=True))
    elif scenario == "fanout":
        n = int(sys.argv[2])
        agent = Agent(model=model(), tools=[make_async(i) for i in range(n)])
        out = asyncio.run(agent.arun(prompt))
        print(len(out.tools or []), "calls")
    elif scenario == "sync64":
        agent = Agent(model=model(), tools=[make_sync(i) for i in range(64)])
        out = asyncio.run(agent.arun(prompt))
        print(len(out.tools or []), "calls")
    elif scenario == "sync16_blocking":
        agent = Agent(model=model(), tools=[make_sync(i) for i in range(16)])
        out = agent.run(prompt)
        print(len(out.tools or []), "calls")
    elif scenario in ("team_arun", "team_run"):
        # A leader (coordinate mode, Agno's default) and three members with three 1 s tools
        # each — async tools under arun(), plain functions under run(), which cannot run async
        # tools; the server's leader turn delegates to every member at once.
        from agno.team import Team

        make = make_async if scenario == "team_arun" else make_sync

        def member(i):
            return Agent(name=f"worker-{i}", id=f"worker-{i}", model=model(), tools=[make(j) for j in range(3)])

        team = Team(name="lead", model=model(), members=[member(i) for i in (1, 2, 3)])
        out = asyncio.run(team.arun(prompt)) if scenario == "team_arun" else team.run(prompt)
        print(len(out.member_responses or []), "member runs")
    elif scenario == "instantiate":
        m = model()
        n = 10000
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        agents = []
        start = time.perf_counter()
        for _ in range(n):
            agents.append(Agent(model=m, tools=[atask1]))
        elapsed = time.perf_counter() - start
        after = tracemalloc.get_traced_memory()[0]
        print(json.dumps({"us_per_agent": elapsed * 1e6 / n, "bytes_per_agent": (after - before) // n}))
    elif scenario == "throughput":
        k = int(sys.argv[2])
        agent = Agent(model=model(), tools=[atask1, atask2, atask3])

        async def one():
            t = time.perf_counter()
            await agent.arun(prompt)
            return time.perf_counter() - t

        async def all_runs():
            start = time.perf_counter()
            results = await asyncio.gather(*(one() for _ in range(k)), return_exceptions=True)
            lat = sorted(r for r in results if isinstance(r, float))
            return lat, time.perf_counter() - start

        lat, total = asyncio.run(all_runs())
        pct = lambda p: lat[int((len(lat) - 1) * p)] * 1e3 if lat else 0.0
        print(json.dumps({"runs": k, "ok": len(lat), "runs_per_s": len(lat) / total, "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))


if __name__ == "__main__":
    main()
