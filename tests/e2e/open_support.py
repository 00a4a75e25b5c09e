#!/usr/bin/env python3
"""Opens a support request with the official Python client's `get_support` call.

    python tests/e2e/open_support.py --url URL --title TITLE --email EMAIL

Prints ONE JSON object on the last line of stdout: {"result": {...}, "error": str | null}.
Exit status 0 on success, 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


async def open_request(url: str, title: str, email: str, out: dict[str, Any]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30)) as http_client:
        transport = streamable_http_client(url, http_client=http_client)
        async with Client(transport, mode="2026-07-28", read_timeout_seconds=30, cache=None) as client:
            result = await client.call_tool(
                "get_support",
                {"title": title, "problem_description": "It fails at the last step.", "email": email},
            )
            if result.is_error:
                raise RuntimeError(f"get_support failed: {result.content}")
            out["result"] = result.structured_content


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--email", required=True)
    args = parser.parse_args()
    out: dict[str, Any] = {"result": None, "error": None}
    try:
        asyncio.run(open_request(args.url, args.title, args.email, out))
    except Exception as error:  # noqa: BLE001 - reported as JSON for the Rust test
        out["error"] = f"{type(error).__name__}: {error}"
    print(json.dumps(out))
    return 0 if out["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
