#!/usr/bin/env python3
"""One call of a tool that asks the person to open a link first (to connect their own
account at an upstream, issue 32; to approve the call, issue 72), with the official
Python client (`mcp` 2.3.0). Run by the Rust integration tests:

    python tests/e2e/connect_call.py --url http://127.0.0.1:PORT/s/acme/mcp [--token TOKEN]
        --tool NAME [--arguments JSON] [--mode legacy|2026-07-28] [--no-elicitation]
        [--url-file PATH --done-file PATH]

With an elicitation callback the client declares elicitation (form and url); without
(`--no-elicitation`) it declares none. A URL elicitation that reaches the callback (the
2026-07-28 era's `input_required` round) is declined, unless `--url-file` is given: then
its URL is written there, the callback waits (up to 120 s) for `--done-file` to exist
(the test opened the link meanwhile) and accepts, and the client retries the call. In the
session era with `--url-file`, a URLElicitationRequiredError's URL is written there and the
client waits (up to 120 s) for the server's `notifications/elicitation/complete` with that
elicitation's id, then retries the call once (reported as `completed_elicitation`). It
calls `--tool` with `--arguments` (default: a support request's) and the person's bearer
token if given (else as the URL identifies them), and prints ONE JSON object on the last
line of stdout:

    {"declared_elicitation": bool, "error_code": int | null, "error_message": str | null,
     "elicitations": [{"mode", "url", "elicitationId", "message"}] | null,
     "is_error": bool | null, "text": str | null, "asked_urls": [str],
     "completed_elicitation": str | null, "error": str | null}

A JSON-RPC error of the call (such as URLElicitationRequiredError, -32042) is reported in
`error_code` and `elicitations`, not as a failure. Exit status 0 when the call answered,
1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from typing import Any


async def run(args: argparse.Namespace, out: dict[str, Any]) -> None:
    import anyio
    import httpx2
    from mcp import Client, MCPError, types
    from mcp.client.streamable_http import streamable_http_client

    async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        url = getattr(params, "url", None)
        out["asked_urls"].append(url)
        if url is None or args.url_file is None:
            return types.ElicitResult(action="decline")
        with open(args.url_file, "w", encoding="utf-8") as handle:
            handle.write(url)
        for _ in range(1200):
            if os.path.exists(args.done_file):
                return types.ElicitResult(action="accept")
            await asyncio.sleep(0.1)
        return types.ElicitResult(action="cancel")

    completed: dict[str, anyio.Event] = {}

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/elicitation/complete":
            elicitation_id = message.params.elicitation_id
            completed.setdefault(elicitation_id, anyio.Event()).set()

    callbacks: dict[str, Any] = {"message_handler": on_message}
    if not args.no_elicitation:
        callbacks["elicitation_callback"] = elicitation
    out["declared_elicitation"] = not args.no_elicitation
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    timeout = httpx2.Timeout(args.timeout)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http_client:
        transport = streamable_http_client(args.url, http_client=http_client)
        async with Client(transport, mode=args.mode, read_timeout_seconds=args.timeout, cache=None, **callbacks) as client:
            arguments = json.loads(args.arguments)
            try:
                result = await client.call_tool(args.tool, arguments)
            except MCPError as refused:
                out["error_code"] = refused.code
                out["error_message"] = refused.message
                data = refused.data if isinstance(refused.data, dict) else {}
                out["elicitations"] = data.get("elicitations")
                asked = (out["elicitations"] or [{}])[0]
                if args.url_file is None or refused.code != -32042 or "url" not in asked:
                    return
                with open(args.url_file, "w", encoding="utf-8") as handle:
                    handle.write(asked["url"])
                done = completed.setdefault(asked["elicitationId"], anyio.Event())
                with anyio.fail_after(120):
                    await done.wait()
                out["completed_elicitation"] = asked["elicitationId"]
                result = await client.call_tool(args.tool, arguments)
            out["is_error"] = bool(result.is_error)
            out["text"] = "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token")
    parser.add_argument("--tool", required=True)
    parser.add_argument(
        "--arguments",
        default=json.dumps({"title": "From Python", "problem_description": "Asked with the official client."}),
    )
    parser.add_argument("--mode", choices=("legacy", "2026-07-28"), default="legacy")
    parser.add_argument("--no-elicitation", action="store_true")
    parser.add_argument("--url-file")
    parser.add_argument("--done-file")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "error": None,
        "error_code": None,
        "error_message": None,
        "elicitations": None,
        "is_error": None,
        "text": None,
        "asked_urls": [],
        "completed_elicitation": None,
    }
    code = 0
    try:
        asyncio.run(run(args, out))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported as JSON
        traceback.print_exc(file=sys.stderr)
        out["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    print(json.dumps(out, default=str), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
