#!/usr/bin/env python3
"""Walks one walkthrough from list to completion with the official Python client.

    python tests/e2e/walkthrough_flow.py --url URL --mode legacy|2026-07-28

Calls list_walkthroughs, select_walkthrough on the first one, next_walkthrough_step
(with current_step_id) until the walkthrough is completed, then get_walkthrough_status.
The client validates every structuredContent against the tool's outputSchema. Prints ONE
JSON object on the last line of stdout:

    {"walkthrough_id", "steps_seen": [ids...], "positions": [1..n], "completed": bool,
     "status": {structuredContent of get_walkthrough_status}, "error": str | null}

Exit status 0 on success, 1 on any failure (the JSON line carries "error").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

MAX_STEPS = 1000


async def walk(url: str, mode: str, out: dict[str, Any]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http_client:
        transport = streamable_http_client(url, http_client=http_client)
        async with Client(transport, mode=mode, read_timeout_seconds=30, cache=None) as client:
            listed = await client.call_tool("list_walkthroughs", {})
            walkthroughs = listed.structured_content["walkthroughs"]
            if not walkthroughs:
                raise RuntimeError("list_walkthroughs returned no walkthroughs")
            walkthrough_id = walkthroughs[0]["id"]
            out["walkthrough_id"] = walkthrough_id

            selected = await client.call_tool("select_walkthrough", {"walkthrough_id": walkthrough_id})
            if selected.is_error:
                raise RuntimeError(f"select_walkthrough failed: {selected.content}")
            step = selected.structured_content["step"]
            for _ in range(MAX_STEPS):
                if step is None:
                    break
                out["steps_seen"].append(step["id"])
                out["positions"].append(step["position"])
                advanced = await client.call_tool(
                    "next_walkthrough_step", {"walkthrough_id": walkthrough_id, "current_step_id": step["id"]}
                )
                if advanced.is_error:
                    raise RuntimeError(f"next_walkthrough_step failed: {advanced.content}")
                step = advanced.structured_content["step"]
                out["completed"] = advanced.structured_content["completed_now"]

            status = await client.call_tool("get_walkthrough_status", {"walkthrough_id": walkthrough_id})
            out["status"] = status.structured_content


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the MCP endpoint, with ?tracking_id=… for identity")
    parser.add_argument("--mode", required=True, choices=("legacy", "2026-07-28", "auto"))
    args = parser.parse_args()
    out: dict[str, Any] = {"walkthrough_id": None, "steps_seen": [], "positions": [], "completed": False,
                           "status": None, "error": None}
    code = 0
    try:
        asyncio.run(walk(args.url, args.mode, out))
    except BaseException as exc:  # report every failure as JSON for the Rust test
        out["error"] = f"{type(exc).__name__}: {exc}"
        print(out["error"], file=sys.stderr)
        code = 1
    print(json.dumps(out), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
