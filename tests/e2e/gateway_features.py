#!/usr/bin/env python3
"""An attached upstream's prompts, resources and completion through a hosted server, with
the official Python client (`mcp` 2.3.0). Run by the Rust integration tests:

    python tests/e2e/gateway_features.py --url http://127.0.0.1:PORT/s/acme/mcp
        --mode legacy|2026-07-28 --prefix ev

Against `@modelcontextprotocol/server-everything` attached as `--prefix`, it lists the
prompts, gets `{prefix}__args-prompt` with a city, lists the resources and templates,
reads the first resource whose URI names `architecture`, and completes
`{prefix}__completable-prompt`'s `department` from `E`. In the legacy (session) mode it
also subscribes to that resource, turns on `{prefix}__toggle-subscriber-updates` and
waits up to 20 s for `notifications/resources/updated`. It prints ONE JSON object on the
last line of stdout:

    {"protocol_version": str, "capabilities": {...}, "prompts": [names], "prompt_text": str,
     "resources": [uris], "templates": [uri templates], "read": {"uri": str, "text": str},
     "completion": [values], "updated": [uris] | null, "error": str | null}

Exit status 0 when every step answered, 1 otherwise (the JSON line carries "error").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from typing import Any

CITY = "Reykjavik"


async def run(args: argparse.Namespace, out: dict[str, Any]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import PromptReference

    updated: list[str] = []
    heard = asyncio.Event()

    async def on_message(message: Any) -> None:
        params = getattr(message, "params", None)
        if getattr(message, "method", None) == "notifications/resources/updated" and params is not None:
            updated.append(str(params.uri))
            heard.set()

    timeout = httpx2.Timeout(args.timeout)
    async with httpx2.AsyncClient(timeout=timeout) as http_client:
        transport = streamable_http_client(args.url, http_client=http_client)
        async with Client(
            transport, mode=args.mode, read_timeout_seconds=args.timeout, cache=None, message_handler=on_message
        ) as client:
            out["protocol_version"] = client.protocol_version
            out["capabilities"] = client.server_capabilities.model_dump(exclude_none=True, mode="json")

            prompts = await client.list_prompts()
            out["prompts"] = [p.name for p in prompts.prompts]
            prompt = await client.get_prompt(f"{args.prefix}__args-prompt", {"city": CITY})
            texts = []
            for message in prompt.messages:
                text = getattr(message.content, "text", None)
                if text:
                    texts.append(text)
            out["prompt_text"] = "\n".join(texts)

            resources = await client.list_resources()
            out["resources"] = [str(r.uri) for r in resources.resources]
            templates = await client.list_resource_templates()
            out["templates"] = [t.uri_template for t in templates.resource_templates]
            wanted = next((u for u in out["resources"] if "architecture" in u), None)
            if wanted is None:
                raise RuntimeError(f"no architecture resource among {out['resources']}")
            read = await client.read_resource(wanted)
            first = read.contents[0]
            out["read"] = {"uri": str(first.uri), "text": getattr(first, "text", "") or ""}

            completion = await client.complete(
                PromptReference(type="ref/prompt", name=f"{args.prefix}__completable-prompt"),
                {"name": "department", "value": "E"},
            )
            out["completion"] = list(completion.completion.values)

            if args.mode == "legacy":
                await client.subscribe_resource(wanted)
                await client.call_tool(f"{args.prefix}__toggle-subscriber-updates", {})
                try:
                    await asyncio.wait_for(heard.wait(), 20)
                finally:
                    await client.call_tool(f"{args.prefix}__toggle-subscriber-updates", {})
                    await client.unsubscribe_resource(wanted)
                out["updated"] = updated


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", required=True, choices=("legacy", "2026-07-28"))
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    out: dict[str, Any] = {"error": None}
    code = 0
    try:
        asyncio.run(run(args, out))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported as JSON
        traceback.print_exc(file=sys.stderr)
        out["error"] = _describe(exc)
        code = 1
    print(json.dumps(out), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
