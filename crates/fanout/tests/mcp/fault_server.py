"""An MCP server that misbehaves on request, for fanout's fault tests (tests/mcp.rs).

Written with the pinned `mcp` package (the Python SDK), run over stdio:

    python fault_server.py [--bad-schema]

Tools: `ping`; `crash` (the process exits mid-call); `hang` (never answers; counts the
cancellations it receives); `cancellations` (waits until at least `at_least` cancellations
arrived, then says how many); `add_tool` (registers `late` and announces the list change).
With `--bad-schema` it also lists `bad_schema_tool`, whose input schema has `anyOf` at the top
level, which model APIs reject.
If FAULT_PIDFILE is set, the server writes its process id there.
"""

import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("fanout-fault-server")
cancelled = 0
cancelled_changed = asyncio.Condition()


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


@server.tool()
async def crash() -> str:
    """Exit the process in the middle of the call."""
    await asyncio.sleep(0.2)
    os._exit(3)


@server.tool()
async def hang() -> str:
    """Never answer."""
    global cancelled
    try:
        await asyncio.Event().wait()
    finally:
        async with cancelled_changed:
            cancelled += 1
            cancelled_changed.notify_all()
    return "unreachable"


@server.tool()
async def cancellations(at_least: int) -> str:
    """How many `hang` calls were cancelled, once at least `at_least` were (at most 10 s)."""
    async with cancelled_changed:
        try:
            await asyncio.wait_for(cancelled_changed.wait_for(lambda: cancelled >= at_least), 10)
        except TimeoutError:
            pass
        return str(cancelled)


def late() -> str:
    """A tool added while the server runs."""
    return "the late tool works"


@server.tool()
async def add_tool(ctx: Context) -> str:
    """Register the `late` tool and tell the client its tool list changed."""
    server.add_tool(late)
    await ctx.session.send_tool_list_changed()
    return "added `late`"


if "--bad-schema" in sys.argv:

    @server.tool()
    def bad_schema_tool(text: str) -> str:
        """Listed with a schema model APIs reject: alternatives at the top level."""
        return text

    server._tool_manager.get_tool("bad_schema_tool").parameters = {
        "type": "object",
        "anyOf": [{"properties": {"text": {"type": "string"}}}, {"properties": {"n": {"type": "integer"}}}],
    }

if os.environ.get("FAULT_PIDFILE"):
    with open(os.environ["FAULT_PIDFILE"], "w") as f:
        f.write(str(os.getpid()))

server.run("stdio")
