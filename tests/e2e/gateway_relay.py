#!/usr/bin/env python3
"""An upstream's requests to its client relayed to the caller, with the official Python
client (`mcp` 2.3.0) in the session era. Run by the Rust integration tests:

    python tests/e2e/gateway_relay.py --url http://127.0.0.1:PORT/s/acme/mcp --prefix ev
        --who NAME [--mode legacy|2026-07-28] [--only elicitation|log] [--rounds N]
        [--log-level LEVEL] [--answer-delay SECONDS] [--no-capabilities]

Against `@modelcontextprotocol/server-everything` attached as `--prefix`, with sampling,
elicitation, roots and logging callbacks that answer with `--who`'s own values, it calls
`{prefix}__trigger-sampling-request`, `{prefix}__trigger-elicitation-request` and
`{prefix}__get-roots-list`, then `{prefix}__toggle-simulated-logging` and a long-running
operation during which log messages arrive. `--only elicitation` calls only the
elicitation tool, `--rounds` times. `--only log` (against the tests' fixture) sets
`--log-level` if given, then calls `{prefix}__log` with every level. `--no-capabilities` declares no callbacks and calls
the elicitation tool once. In `--mode 2026-07-28` (no sessions: the requests come as
`input_required` rounds) only the sampling and elicitation tools are called. It prints ONE JSON object on the last line of stdout:

    {"tools": [names], "sampling": str, "elicitation": [str per round], "roots": str,
     "logs": [data], "asked": {"sampling": n, "elicitation": n, "roots": n},
     "meta": {upstream identity seen in a relayed request's _meta} | null,
     "error": str | null}

Exit status 0 when every step answered (a tool error is reported, not a failure), 1
otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from typing import Any


def text_of(result: Any) -> str:
    parts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    text = "\n".join(parts)
    return f"ERROR: {text}" if result.is_error else text


async def run(args: argparse.Namespace, out: dict[str, Any]) -> None:
    import httpx2
    from mcp import Client, types
    from mcp.client.streamable_http import streamable_http_client

    asked = {"sampling": 0, "elicitation": 0, "roots": 0}
    out["asked"] = asked
    out["logs"] = []
    out["meta"] = None

    def remember_meta(params: Any) -> None:
        meta = getattr(params, "meta", None)
        if meta is not None:
            dumped = meta.model_dump(by_alias=True) if hasattr(meta, "model_dump") else dict(meta)
            found = dumped.get("io.guidepost/upstream")
            if found is not None:
                out["meta"] = found

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked["sampling"] += 1
        remember_meta(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"sampled by {args.who}"),
            model=f"model-of-{args.who}",
        )

    async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked["elicitation"] += 1
        # A person takes a moment: calls of others overlap with this one.
        await asyncio.sleep(args.answer_delay)
        remember_meta(params)
        return types.ElicitResult(action="accept", content={"name": args.who, "check": True})

    async def roots(context: Any) -> types.ListRootsResult:
        asked["roots"] += 1
        return types.ListRootsResult(roots=[types.Root(uri=f"file:///home/{args.who}", name=args.who)])

    async def logging(params: types.LoggingMessageNotificationParams) -> None:
        out["logs"].append(params.data)
        out.setdefault("log_levels", []).append(str(params.level))

    callbacks: dict[str, Any] = {}
    if not args.no_capabilities:
        callbacks = {
            "sampling_callback": sampling,
            "elicitation_callback": elicitation,
            "list_roots_callback": roots,
            "logging_callback": logging,
        }
    timeout = httpx2.Timeout(args.timeout)
    async with httpx2.AsyncClient(timeout=timeout) as http_client:
        transport = streamable_http_client(args.url, http_client=http_client)
        async with Client(transport, mode=args.mode, read_timeout_seconds=args.timeout, cache=None, **callbacks) as client:
            tools = await client.list_tools()
            out["tools"] = [t.name for t in tools.tools]
            p = args.prefix
            if args.only == "log":
                if args.log_level:
                    await client.set_logging_level(args.log_level)
                levels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
                out["logged"] = text_of(await client.call_tool(f"{p}__log", {"levels": levels}))
                # Messages may trail the result on their own stream: wait for them (5 s at most).
                expected = len(levels[levels.index(args.log_level):]) if args.log_level else len(levels)
                for _ in range(50):
                    if len(out["logs"]) >= expected:
                        break
                    await asyncio.sleep(0.1)
                return
            if args.no_capabilities or args.only == "elicitation":
                rounds = 1 if args.no_capabilities else args.rounds
                out["elicitation"] = []
                for _ in range(rounds):
                    result = await client.call_tool(f"{p}__trigger-elicitation-request", {})
                    out["elicitation"].append(text_of(result))
                return
            out["sampling"] = text_of(
                await client.call_tool(f"{p}__trigger-sampling-request", {"prompt": "Say hi", "maxTokens": 20})
            )
            out["elicitation"] = [text_of(await client.call_tool(f"{p}__trigger-elicitation-request", {}))]
            if args.mode != "legacy":
                return
            out["roots"] = text_of(await client.call_tool(f"{p}__get-roots-list", {}))
            out["logging"] = text_of(await client.call_tool(f"{p}__toggle-simulated-logging", {}))
            # Log messages reach a caller while one of its calls is in flight.
            for _ in range(5):
                await client.call_tool(f"{p}__trigger-long-running-operation", {"duration": 3, "steps": 3})
                if out["logs"]:
                    break
            await client.call_tool(f"{p}__toggle-simulated-logging", {})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--who", required=True)
    parser.add_argument("--mode", choices=("legacy", "2026-07-28"), default="legacy")
    parser.add_argument("--only", choices=("elicitation", "log"))
    parser.add_argument("--log-level")
    parser.add_argument("--answer-delay", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-capabilities", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    out: dict[str, Any] = {"error": None}
    code = 0
    try:
        asyncio.run(run(args, out))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported as JSON
        traceback.print_exc(file=sys.stderr)
        out["error"] = _describe(exc)
        code = 1
    print(json.dumps(out, default=str), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
