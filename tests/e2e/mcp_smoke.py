#!/usr/bin/env python3
"""End-to-end smoke check of an MCP server with the official Python client (`mcp` 2.3.0).

Run by the Rust integration tests as a subprocess:

    .tools/venv/bin/python tests/e2e/mcp_smoke.py --url http://127.0.0.1:PORT/s/acme/mcp
        --mode legacy|2026-07-28|auto [--call-support-email EMAIL | --call-support]
        [--call-tool NAME [--arguments JSON] [--progress]]
        [--header 'Host: acme.localhost'] [--header 'Authorization: Bearer ...']

It connects, lists every tool (following nextCursor), optionally calls `get_support`
with {title, problem_description[, email]}, and prints ONE JSON object on the LAST line
of stdout:

    {"tools": [names...], "support": {structuredContent} | null, "is_error": bool,
     "support_text": str | null, "protocol_version": str | null, "server_name": str | null,
     "instructions": str | null, "call": {...} | null, "error": str | null}

Earlier stdout lines are informational (the tool names as a JSON array). Diagnostics go
to stderr.

Exit status:
    0  everything succeeded (and the tool result was not isError, unless --allow-tool-error)
    1  connection / protocol / validation failure (the JSON line carries "error")
    2  bad command-line usage (argparse; no JSON line is printed)
    3  a tool call returned isError: true and --allow-tool-error was not given

Note that the client itself validates what the server sends: in 2026-07-28 mode every
result must carry `resultType` (and list results `ttlMs` + `cacheScope`), and a
non-error tools/call result must carry `structuredContent` valid against the tool's
`outputSchema`. Any of those failing is exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_TOOL_ERROR = 3

MODES = ("legacy", "2026-07-28", "auto")


def _parse_header(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header must be 'Name: value', got {raw!r}")
    return name.strip(), value.strip()


def _parse_json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("arguments must be a JSON object")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="MCP endpoint, e.g. http://127.0.0.1:8080/s/acme/mcp")
    p.add_argument("--mode", required=True, choices=MODES, help="client negotiation mode")
    p.add_argument(
        "--call-support-email",
        metavar="EMAIL",
        help="call get_support with this email (title/problem_description from --title/--problem-description)",
    )
    p.add_argument(
        "--call-support",
        action="store_true",
        help="call get_support WITHOUT an email (e.g. to check the 'email required' tool error)",
    )
    p.add_argument("--title", default="Smoke test: cannot connect", help="get_support title")
    p.add_argument(
        "--problem-description",
        default="The e2e smoke test opened this support request.",
        help="get_support problem_description",
    )
    p.add_argument("--problem-context", default=None, help="optional get_support problem_context")
    p.add_argument(
        "--call-tool", metavar="NAME", help="additionally call this tool (result under the 'call' key)"
    )
    p.add_argument(
        "--arguments", type=_parse_json_object, default={}, metavar="JSON", help="arguments for --call-tool"
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="ask for progress on --call-tool; the updates go under 'call' as 'progress'",
    )
    p.add_argument(
        "--header",
        action="append",
        type=_parse_header,
        default=[],
        metavar="'Name: value'",
        help="extra HTTP header on every request (repeatable), e.g. 'Host: acme.localhost'",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds (default 30)")
    p.add_argument(
        "--allow-tool-error", action="store_true", help="exit 0 even when a tool result has isError: true"
    )
    p.add_argument("--verbose", action="store_true", help="client debug logging on stderr")
    return p


def _text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")


def _call_summary(name: str, result: Any) -> dict[str, Any]:
    return {
        "name": name,
        "structured": result.structured_content,
        "is_error": bool(result.is_error),
        "text": _text_of(result),
    }


async def run(args: argparse.Namespace, out: dict[str, Any]) -> int:
    # Imported here so that a missing venv shows up as a JSON "error" line, not a bare traceback.
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = dict(args.header)
    timeout = httpx2.Timeout(args.timeout)
    # A caller-provided client is NOT closed by streamable_http_client: we own it here.
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http_client:
        transport = streamable_http_client(args.url, http_client=http_client)
        # cache=None: every list_tools really goes to the server (no ttlMs-based reuse).
        async with Client(transport, mode=args.mode, read_timeout_seconds=args.timeout, cache=None) as client:
            out["protocol_version"] = client.protocol_version
            info = client.server_info
            out["server_name"] = info.name if info is not None else None
            out["instructions"] = client.instructions

            names: list[str] = []
            cursor: str | None = None
            for _ in range(100):
                page = await client.list_tools(cursor=cursor)
                names.extend(tool.name for tool in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            out["tools"] = names
            print(json.dumps(names), flush=True)

            code = EXIT_OK
            if args.call_support or args.call_support_email is not None:
                arguments: dict[str, Any] = {
                    "title": args.title,
                    "problem_description": args.problem_description,
                }
                if args.problem_context is not None:
                    arguments["problem_context"] = args.problem_context
                if args.call_support_email is not None:
                    arguments["email"] = args.call_support_email
                result = await client.call_tool("get_support", arguments)
                out["support"] = result.structured_content
                out["is_error"] = bool(result.is_error)
                out["support_text"] = _text_of(result)
                if result.is_error:
                    code = EXIT_TOOL_ERROR

            if args.call_tool:
                updates: list[dict[str, Any]] = []

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    updates.append({"progress": progress, "total": total, "message": message})

                callback = on_progress if args.progress else None
                result = await client.call_tool(args.call_tool, args.arguments, progress_callback=callback)
                out["call"] = _call_summary(args.call_tool, result)
                out["call"]["progress"] = updates
                if result.is_error:
                    code = EXIT_TOOL_ERROR

            if code == EXIT_TOOL_ERROR and args.allow_tool_error:
                code = EXIT_OK
            return code


def _describe(exc: BaseException) -> str:
    # anyio task groups wrap failures in ExceptionGroups; report the innermost leaves.
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.call_support and args.call_support_email is not None:
        build_parser().error("--call-support and --call-support-email are mutually exclusive")
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

    out: dict[str, Any] = {
        "tools": [],
        "support": None,
        "is_error": False,
        "support_text": None,
        "protocol_version": None,
        "server_name": None,
        "instructions": None,
        "call": None,
        "error": None,
    }
    try:
        code = asyncio.run(run(args, out))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure must still yield the JSON line
        traceback.print_exc(file=sys.stderr)
        out["error"] = _describe(exc)
        code = EXIT_FAILURE
    print(json.dumps(out), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
