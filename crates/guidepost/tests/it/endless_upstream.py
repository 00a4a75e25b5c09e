"""A small stdio MCP server the gateway tests install as an operator catalog `command`
upstream, playing one that lists without end: each `tools/list` page holds 100
tools with long descriptions and a `nextCursor` never given before, forever (Python
standard library only, so that it runs as `nobody` under /usr/bin/python3).

- `endless_upstream.py endless`: endless from its very first `tools/list`.
- `endless_upstream.py later`: lists one tool, `turn`, until it is called; `turn` answers,
  then the server turns endless and sends `notifications/tools/list_changed`.
"""

import json
import sys

DESCRIPTION = "An endless tool, described at length. " * 55
endless = len(sys.argv) > 1 and sys.argv[1] == "endless"


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def result(request_id, value):
    send({"jsonrpc": "2.0", "id": request_id, "result": value})


def page(cursor):
    number = int(cursor or "0") + 1
    tools = [
        {
            "name": f"tool_{number}_{n}",
            "description": DESCRIPTION,
            "inputSchema": {"type": "object"},
        }
        for n in range(100)
    ]
    return {"tools": tools, "nextCursor": str(number)}


TURN = {
    "name": "turn",
    "description": "Turns the server endless.",
    "inputSchema": {"type": "object"},
}


def main():
    global endless
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            break
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict) or message.get("method") is None:
            continue
        method = message["method"]
        request_id = message.get("id")
        params = message.get("params") or {}
        if method == "initialize":
            result(request_id, {
                "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": "endless-upstream", "version": "1.0.0"},
            })
        elif method == "tools/list":
            if endless:
                result(request_id, page(params.get("cursor")))
            else:
                result(request_id, {"tools": [TURN]})
        elif method == "tools/call":
            result(request_id, {"content": [{"type": "text", "text": "turned"}]})
            endless = True
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        elif method == "ping":
            result(request_id, {})
        elif request_id is not None:
            send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": method}})


main()
