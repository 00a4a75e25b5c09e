#!/usr/bin/env python3
"""Runs a long tool as a task (the MCP tasks extension, SEP-2663) with the official Python
client: starts it through one node and follows it through another.

    python tests/e2e/task_across_nodes.py --start URL_A --poll URL_B --tool NAME [--arguments JSON]

Two `mcp.Client`s speak 2026-07-28 and declare `io.modelcontextprotocol/tasks`. The one on
URL_A calls the tool; the server answers `resultType: "task"`, which the client's
extension claims (the SDK's `ResultClaim`) and resolves by polling `tasks/get` through
the client on URL_B until the task ends. `call_tool` then returns the task's result as an
ordinary `CallToolResult`. Prints ONE JSON object on the last line of stdout:

    {"task_id", "created_status", "polled": [statuses...], "result": {CallToolResult} | null,
     "error": str | null}

Exit status 0 on success, 1 on any failure (the JSON line carries "error").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Literal

TASKS = "io.modelcontextprotocol/tasks"
TERMINAL = ("completed", "failed", "cancelled")
POLL_LIMIT_SECONDS = 60


async def run(args: argparse.Namespace, out: dict[str, Any]) -> None:
    import httpx2
    import mcp_types as types
    from mcp import Client
    from mcp.client import advertise
    from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
    from mcp.client.streamable_http import streamable_http_client
    from pydantic import ConfigDict

    class CreatedTask(types.Result):
        """A `CreateTaskResult` of the tasks extension: the task, flat."""

        model_config = ConfigDict(extra="allow")
        result_type: Literal["task"]
        task_id: str
        status: str
        poll_interval_ms: int | None = None

    class DetailedTask(types.Result):
        """A `tasks/get` answer: the task and, once it ended, its result or error."""

        model_config = ConfigDict(extra="allow")
        task_id: str
        status: str
        result: dict[str, Any] | None = None
        error: dict[str, Any] | None = None

    class GetTask(types.GetTaskRequest):
        name_param = "taskId"  # the Mcp-Name header that SEP-2663 asks for

    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http:
        poll_transport = streamable_http_client(args.poll, http_client=http)
        async with Client(poll_transport, mode="2026-07-28", cache=None, extensions=[advertise(TASKS)]) as poller:

            async def follow(created: CreatedTask, _ctx: ClaimContext) -> types.CallToolResult:
                out["task_id"], out["created_status"] = created.task_id, created.status
                interval = (created.poll_interval_ms or 500) / 1000
                loop = asyncio.get_running_loop()
                deadline = loop.time() + POLL_LIMIT_SECONDS
                while loop.time() < deadline:
                    request = GetTask(params=types.GetTaskRequestParams(task_id=created.task_id))
                    task = await poller.session.send_request(request, DetailedTask)
                    out["polled"].append(task.status)
                    if task.status == "completed" and task.result is not None:
                        return types.CallToolResult.model_validate(task.result)
                    if task.status in TERMINAL:
                        raise RuntimeError(f"the task ended {task.status}: {task.error}")
                    await asyncio.sleep(interval)
                raise RuntimeError(f"the task did not end within {POLL_LIMIT_SECONDS} s")

            class Tasks(ClientExtension):
                identifier = TASKS

                def claims(self) -> list[ResultClaim[Any]]:
                    return [ResultClaim(result_type="task", model=CreatedTask, resolve=follow)]

            start_transport = streamable_http_client(args.start, http_client=http)
            async with Client(start_transport, mode="2026-07-28", cache=None, extensions=[Tasks()]) as starter:
                result = await starter.call_tool(args.tool, json.loads(args.arguments))
                out["result"] = result.model_dump(by_alias=True, mode="json", exclude_none=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", required=True, help="the MCP endpoint that starts the task")
    parser.add_argument("--poll", required=True, help="the MCP endpoint that is polled")
    parser.add_argument("--tool", required=True)
    parser.add_argument("--arguments", default="{}", help="the tool's arguments, as JSON")
    args = parser.parse_args()
    out: dict[str, Any] = {"task_id": None, "created_status": None, "polled": [], "result": None, "error": None}
    try:
        asyncio.run(run(args, out))
    except BaseException as error:  # report everything, including exception groups
        out["error"] = f"{type(error).__name__}: {error}"
    print(json.dumps(out))
    return 0 if out["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
