#!/usr/bin/env python3
"""The whole MCP authorization flow with the official Python client (`mcp` 2.3.0), headless.

Run by the Rust integration tests as a subprocess:

    .tools/venv/bin/python tests/e2e/oauth_flow.py --url http://127.0.0.1:PORT/s/acme/mcp
        --outbox DIR --email ada@example.com [--modes legacy,2026-07-28]
        [--walkthrough-id wt_…] [--client-metadata-url https://…]

`OAuthClientProvider` meets a 401, discovers the protected resource and authorization
server metadata, registers (RFC 7591, or uses a client metadata document URL), and calls
the redirect handler with the authorization URL. The handler plays the person over plain
HTTP, the way a browser without JavaScript would: it opens the URL, lands on the login
page, posts the email with the page's CSRF token, reads the one-time code from the newest
`.eml` file for that address in the outbox, posts the code, and approves on the consent
page. The `Location` of that answer (the client's redirect URI with `code`, `state` and
`iss`) is handed back to the provider, which exchanges the code for tokens.

Then, for each mode (one shared provider: the second connection reuses the token), it
lists the tools and calls `get_support` (and `select_walkthrough` when given), as the
signed-in person.

ONE JSON object on the LAST line of stdout:

    {"authorizations": int, "registered": bool, "modes": {MODE: {"protocol_version": str,
     "tools": [...], "support": {...}, "walkthrough": {...} | null}}, "callback": {...},
     "error": str | null}
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import re
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="MCP endpoint of a platform_oauth server")
    p.add_argument("--outbox", required=True, help="the server's --mail-outbox directory")
    p.add_argument("--email", required=True, help="the person who signs in")
    p.add_argument("--modes", default="legacy,2026-07-28", help="client modes, in order (comma-separated)")
    p.add_argument("--walkthrough-id", default=None, help="also call select_walkthrough with this id")
    p.add_argument("--client-metadata-url", default=None, help="use this CIMD URL as client_id")
    p.add_argument("--timeout", type=float, default=30.0)
    return p


class MemoryStorage:
    """TokenStorage in memory: the tokens of one run."""

    def __init__(self) -> None:
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info) -> None:
        self.client_info = client_info


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ACTION = re.compile(r'action="([^"]+)"')


def form_action(page: str, ending: str) -> str:
    for action in ACTION.findall(page):
        if action.endswith(ending):
            return action
    raise RuntimeError(f"no form posting to {ending} on the page:\n{page[:2000]}")


def csrf(page: str) -> str:
    found = CSRF.search(page)
    if not found:
        raise RuntimeError(f"no CSRF field on the page:\n{page[:2000]}")
    return found.group(1)


def newest_code(outbox: Path, address: str) -> str:
    """The one-time code of the newest mail to `address` (the subject starts with it)."""
    mails = []
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address.lower() in str(message["To"]).lower():
            mails.append((path.stat().st_mtime_ns, path.name, message))
    if not mails:
        raise RuntimeError(f"no mail to {address} in {outbox}")
    message = sorted(mails, key=lambda m: (m[0], m[1]))[-1][2]
    match = re.match(r"\s*(\d{6,})\b", str(message["Subject"]))
    if not match:
        raise RuntimeError(f"no code in the subject {message['Subject']!r}")
    return match.group(1)


def https_url(url: str | None) -> bool:
    return bool(url) and urlparse(url).scheme == "https"


class Person:
    """Follows the sign-in pages over HTTP: cookies kept, redirects taken one by one."""

    def __init__(self, address: str, outbox: Path, timeout: float) -> None:
        self.address = address
        self.outbox = outbox
        self.timeout = timeout
        self.callback: dict[str, Any] | None = None

    async def sign_in(self, authorization_url: str) -> None:
        import httpx2

        async with httpx2.AsyncClient(follow_redirects=False, timeout=self.timeout) as browser:
            answer = await browser.get(authorization_url)
            if answer.status_code != 303:
                raise RuntimeError(f"authorize answered {answer.status_code}: {answer.text[:500]}")
            login = answer.headers["location"]
            page = (await browser.get(login)).text
            answer = await browser.post(
                form_action(page, "/email"), data={"csrf_token": csrf(page), "email": self.address}
            )
            if answer.status_code != 303:
                raise RuntimeError(f"posting the email answered {answer.status_code}: {answer.text[:500]}")
            page = (await browser.get(login)).text
            code = newest_code(self.outbox, self.address)
            answer = await browser.post(form_action(page, "/code"), data={"csrf_token": csrf(page), "code": code})
            if answer.status_code != 303:
                raise RuntimeError(f"posting the code answered {answer.status_code}: {answer.text[:500]}")
            page = (await browser.get(login)).text
            if self.address.lower() not in page.lower():
                raise RuntimeError("the consent page does not name the person")
            answer = await browser.post(
                form_action(page, "/consent"), data={"csrf_token": csrf(page), "decision": "approve"}
            )
            if answer.status_code != 303:
                raise RuntimeError(f"consent answered {answer.status_code}: {answer.text[:500]}")
            location = answer.headers["location"]
            query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
            self.callback = {"location": location, **query}


async def run(args: argparse.Namespace, out: dict[str, Any]) -> int:
    import httpx2
    from mcp import Client
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    person = Person(args.email, Path(args.outbox), args.timeout)
    storage = MemoryStorage()

    async def redirect_handler(authorization_url: str) -> None:
        out["authorizations"] += 1
        out["authorization_url"] = authorization_url
        await person.sign_in(authorization_url)

    async def callback_handler() -> AuthorizationCodeResult:
        assert person.callback is not None
        out["callback"] = {k: v for k, v in person.callback.items() if k != "code"}
        if "error" in person.callback:
            raise RuntimeError(f"authorization failed: {person.callback}")
        return AuthorizationCodeResult(
            code=person.callback["code"], state=person.callback.get("state"), iss=person.callback.get("iss")
        )

    metadata = OAuthClientMetadata(
        client_name="Guidepost e2e (Python)",
        redirect_uris=["http://127.0.0.1:9/callback"],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    provider = OAuthClientProvider(
        args.url,
        metadata,
        storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=args.client_metadata_url if https_url(args.client_metadata_url) else None,
    )
    if args.client_metadata_url and not https_url(args.client_metadata_url):
        # The SDK insists on https for CIMD URLs; tests serve the document over plain
        # http on loopback (the server allows that only with --cimd-allow-private).
        provider.context.client_metadata_url = args.client_metadata_url

    for mode in [m for m in args.modes.split(",") if m]:
        report: dict[str, Any] = {"protocol_version": None, "tools": [], "support": None, "walkthrough": None}
        out["modes"][mode] = report
        async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(args.timeout)) as http_client:
            transport = streamable_http_client(args.url, http_client=http_client)
            async with Client(transport, mode=mode, read_timeout_seconds=args.timeout, cache=None) as client:
                report["protocol_version"] = client.protocol_version
                report["tools"] = [tool.name for tool in (await client.list_tools()).tools]
                support = await client.call_tool(
                    "get_support",
                    {"title": f"Signed in ({mode})", "problem_description": "Sent by the OAuth e2e test."},
                )
                report["support"] = {"is_error": bool(support.is_error), "structured": support.structured_content}
                if args.walkthrough_id:
                    selected = await client.call_tool("select_walkthrough", {"walkthrough_id": args.walkthrough_id})
                    report["walkthrough"] = {
                        "is_error": bool(selected.is_error),
                        "structured": selected.structured_content,
                    }
    out["registered"] = storage.client_info is not None
    out["client_id"] = storage.client_info.client_id if storage.client_info else None
    out["token_scope"] = storage.tokens.scope if storage.tokens else None
    return 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: dict[str, Any] = {"authorizations": 0, "registered": False, "modes": {}, "callback": None, "error": None}
    try:
        code = asyncio.run(run(args, out))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure must still yield the JSON line
        traceback.print_exc(file=sys.stderr)
        out["error"] = _describe(exc)
        code = 1
    print(json.dumps(out), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
