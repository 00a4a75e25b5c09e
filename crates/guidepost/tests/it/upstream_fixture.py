"""A small stdio MCP server the gateway tests run as an upstream (Python standard library
only, so that each behaviour is the test's to control):

- `echo {message}`: answers the message.
- `slow {seconds, steps}`: reports `steps` progress notifications, then answers; if it is
  cancelled, it writes `cancelled <pid> <request id>` to $FIXTURE_MARKS.
- `grow {name, description}`: adds (or redefines) the tool `name` and sends
  notifications/tools/list_changed.
- `spawn_child`: starts `sleep 600` as its own child and answers its pid.
- `crash`: exits at once, answering nothing.
- `hang`: stops reading its input (and so answers nothing, pings included), alive.
- `noisy {lines, unbroken}`: writes that many 200-character lines to stderr, then (with
  `unbroken`) that many bytes more with no newline, a MiB at a time, and one newline, then
  answers.
- `huge`: answers with one 5 MiB line, over what the gateway takes from an upstream.
- `secret`: answers the value of $FIXTURE_SECRET, or `(unset)`.
- `pid {seconds, steps}` (with $FIXTURE_PIDS set): reports `steps` progress notifications naming its pid over
  `seconds`, then answers its pid (the replica tests: which process served a call).
- `whereami`: answers its working directory, HOME, $FIXTURE_PLACE, $FIXTURE_GREETING, its
  arguments and the names of its environment variables, as JSON.

With $FIXTURE_HOSTILE set, it also offers what an abusive upstream or client does, and
marks `listed` in $FIXTURE_MARKS at each tools/list:

- `stall`: never answers (and goes on answering everything else).
- `churn`: a tool whose description `flood` keeps changing.
- `flood {count, seconds}`: answers at once, then changes `churn`'s description and sends
  notifications/tools/list_changed `count` times over `seconds`, then marks `flooded`.
- `bloat {count, prefix}`: adds `count` tools named `{prefix}{n}` and sends one
  notifications/tools/list_changed.

With $FIXTURE_TOOLS naming a JSON file (a list of whole tool definitions), each start
also lists those, as written in the file then; calling one answers `<name> ran`.

With $FIXTURE_FEATURES naming a JSON file ({"prompts": [...], "resources": [...],
"resourceTemplates": [...]}, whole definitions), each start declares prompts and resources
and lists those, as written in the file then; `prompts/get` answers one user message
naming the prompt and its arguments, `resources/read` answers `contents of <uri>`,
`resources/subscribe {uri}` marks `subscribed <uri>`, answers and sends one
notifications/resources/updated of it (`resources/unsubscribe` marks `unsubscribed <uri>`); and
the tool `log {levels}` sends one `notifications/message` per level (data `msg-<level>`)
before it answers.

A copy published as a package in versions (the upgrade tests) has its `RELEASE` line
replaced: `whereami` then also answers the version, the release's descriptions replace or
add tools, and it offers `hold {name}`, which writes `holding-<name>` into its working
directory and answers once a file `name` appears there.

Every call that carries `_meta.traceparent` (SEP-414) appends `traceparent <value> <tool>`
to $FIXTURE_MARKS.

Every start appends `started <pid>` to $FIXTURE_MARKS. A "pid" here (in marks and
answers) is the process's identity: a number over 10^11 in its environment
($FIXTURE_IDENTITY), which the tests find in the host's /proc (`gateway_fixture::host_pid`);
an upstream runs in a PID namespace of its own, where its own pid means nothing to the
host, so the server re-executes itself once at start to carry one. With $FIXTURE_CRASH_AT_START set,
it writes a line to stderr and exits before answering anything; set to `loud`, that line
carries $FIXTURE_SECRET (whole, and split by an escape), terminal escapes and 3,000
characters more; set to `traceback`, it prints a Python traceback that ends in a missing
module, 60 lines of noise after it, and exits with code 1. With $FIXTURE_CRASH_WHILE naming a file, it does the same while that file
exists (a failure that a test can end). With $FIXTURE_SLOW_WHILE naming a file, a start
while that file exists marks `starting slowly` and reads nothing until the file is gone
(at most 120 s, a guard against a test that never removes it).
"""

import json
import os
import random
import subprocess
import sys
import threading
import time


def new_identity():
    return str(random.SystemRandom().randrange(10**11, 10**12))


IDENTITY = os.environ.get("FIXTURE_IDENTITY")
if not IDENTITY:
    os.execve(sys.executable, sys.orig_argv, {**os.environ, "FIXTURE_IDENTITY": new_identity()})

MARKS = os.environ.get("FIXTURE_MARKS")
HOSTILE = bool(os.environ.get("FIXTURE_HOSTILE"))
lock = threading.Lock()
tools = {
    "echo": "Echoes the message.",
    "slow": "Reports progress, then answers.",
    "grow": "Adds a tool and says the list changed.",
    "spawn_child": "Starts a child process and answers its pid.",
    "crash": "Exits at once.",
    "hang": "Stops answering, alive.",
    "noisy": "Writes a lot to stderr.",
    "huge": "Answers with a 5 MiB message.",
    "secret": "Answers the secret it was given.",
    "whereami": "Answers its working directory, HOME and arguments.",
}
if os.environ.get("FIXTURE_PIDS"):
    tools["pid"] = "Reports progress naming its process id, then answers it."
if HOSTILE:
    tools.update({
        "stall": "Never answers.",
        "churn": "Changed 0 times.",
        "flood": "Changes churn and says the list changed, many times.",
        "bloat": "Adds many tools at once.",
    })
# Replaced in a published copy: {"version": "1.1.0", "descriptions": {name: text}}.
RELEASE = {"version": None, "descriptions": {}}
if RELEASE["version"]:
    tools["hold"] = "Answers once the file it names appears in its working directory."
    tools.update(RELEASE["descriptions"])
cancelled = set()
# Whole definitions from $FIXTURE_TOOLS, read once at start (a rug pull between starts).
file_tools = []
# Prompts, resources and templates from $FIXTURE_FEATURES, read once at start.
features = {}


def mark(text):
    if MARKS:
        with open(MARKS, "a") as f:
            f.write(text + "\n")


def send(message):
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def result(request_id, value):
    send({"jsonrpc": "2.0", "id": request_id, "result": value})


def text(request_id, message):
    result(request_id, {"content": [{"type": "text", "text": message}]})


def definitions():
    schema = {"type": "object", "properties": {"message": {"type": "string"}}}
    listed = [{"name": name, "description": about, "inputSchema": schema} for name, about in tools.items()]
    return listed + file_tools


def slow(request_id, arguments, token):
    steps = int(arguments.get("steps", 3))
    pause = float(arguments.get("seconds", 1)) / max(steps, 1)
    for step in range(1, steps + 1):
        if token is not None:
            send({"jsonrpc": "2.0", "method": "notifications/progress",
                  "params": {"progressToken": token, "progress": step, "total": steps,
                             "message": f"step {step} of {steps}"}})
        # Each step's work follows its report, so that no report races the answer.
        time.sleep(pause)
        if request_id in cancelled:
            mark(f"cancelled {IDENTITY} {request_id}")
            return
    text(request_id, f"done after {steps} steps")


def pid(request_id, arguments, token):
    steps = int(arguments.get("steps", 0))
    pause = float(arguments.get("seconds", 0)) / max(steps, 1)
    for step in range(1, steps + 1):
        if token is not None:
            send({"jsonrpc": "2.0", "method": "notifications/progress",
                  "params": {"progressToken": token, "progress": step, "total": steps,
                             "message": f"pid {IDENTITY}"}})
        time.sleep(pause)
    if steps == 0:
        time.sleep(float(arguments.get("seconds", 0)))
    text(request_id, str(IDENTITY))


def hold(request_id, name):
    with open(f"holding-{name}", "w") as f:
        f.write(str(IDENTITY))
    while not os.path.exists(name):
        time.sleep(0.05)
    text(request_id, f"released by {name}")


def flood(count, seconds):
    # Fifty at a time, so that the pace holds on a busy machine (a sleep costs more than 1 ms).
    batch = 50
    pause = seconds * batch / max(count, 1)
    for n in range(1, count + 1):
        # Replacing a value (not adding a key) is safe while the main thread lists.
        tools["churn"] = f"Changed {n} times."
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        if n % batch == 0:
            time.sleep(pause)
    mark(f"flooded {count}")


def call(request_id, params):
    name = params.get("name")
    arguments = params.get("arguments") or {}
    token = (params.get("_meta") or {}).get("progressToken")
    traceparent = (params.get("_meta") or {}).get("traceparent")
    if traceparent:
        mark(f"traceparent {traceparent} {name}")
    if name == "echo" and not isinstance(arguments.get("message", ""), str):
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": "message must be a string"}})
    elif name == "echo":
        text(request_id, str(arguments.get("message", "")))
    elif name == "slow":
        threading.Thread(target=slow, args=(request_id, arguments, token), daemon=True).start()
    elif name == "pid" and "pid" in tools:
        threading.Thread(target=pid, args=(request_id, arguments, token), daemon=True).start()
    elif name == "grow":
        tools[str(arguments.get("name", "grown"))] = str(arguments.get("description", "A tool added while running."))
        text(request_id, "grown")
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    elif name == "spawn_child":
        child = new_identity()
        subprocess.Popen(["sleep", "600"], env={**os.environ, "FIXTURE_IDENTITY": child})
        text(request_id, child)
    elif name == "crash":
        os._exit(3)
    elif RELEASE["version"] and name == "hold":
        threading.Thread(target=hold, args=(request_id, str(arguments.get("name", "go"))), daemon=True).start()
    elif name == "hang":
        time.sleep(3600)
    elif HOSTILE and name == "stall":
        pass
    elif HOSTILE and name == "flood":
        count, seconds = int(arguments.get("count", 100)), float(arguments.get("seconds", 1))
        threading.Thread(target=flood, args=(count, seconds), daemon=True).start()
        text(request_id, "flooding")
    elif HOSTILE and name == "bloat":
        prefix = str(arguments.get("prefix", "extra"))
        for n in range(int(arguments.get("count", 10))):
            tools[f"{prefix}{n}"] = "One of many."
        text(request_id, "bloated")
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    elif name == "whereami":
        text(request_id, json.dumps({"version": RELEASE["version"], "cwd": os.getcwd(), "home": os.environ.get("HOME"),
                                     "place": os.environ.get("FIXTURE_PLACE"),
                                     "greeting": os.environ.get("FIXTURE_GREETING"),
                                     "args": sys.argv[1:], "env_names": sorted(n for n in os.environ if n != "FIXTURE_IDENTITY")}))
    elif name == "secret":
        text(request_id, os.environ.get("FIXTURE_SECRET", "(unset)"))
    elif name == "huge":
        text(request_id, "x" * (5 * 1024 * 1024))
    elif name == "noisy":
        lines = int(arguments.get("lines", 1000))
        for n in range(lines):
            sys.stderr.write(f"noise line {n:06d} " + "x" * 180 + "\n")
        sys.stderr.flush()
        unbroken = int(arguments.get("unbroken", 0))
        chunk = b"y" * (1024 * 1024)
        if unbroken:
            for start in range(0, unbroken, len(chunk)):
                sys.stderr.buffer.write(chunk[:unbroken - start])
            sys.stderr.buffer.write(b"\n")
            sys.stderr.flush()
        text(request_id, f"wrote {lines} lines")
    elif features and name == "log":
        for level in arguments.get("levels", []):
            send({"jsonrpc": "2.0", "method": "notifications/message",
                  "params": {"level": level, "data": f"msg-{level}"}})
        text(request_id, "logged")
    elif any(tool["name"] == name for tool in file_tools):
        text(request_id, f"{name} ran")
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": f"no tool {name}"}})


def main():
    mark(f"started {IDENTITY}")
    if os.environ.get("FIXTURE_TOOLS"):
        with open(os.environ["FIXTURE_TOOLS"]) as f:
            file_tools.extend(json.load(f))
    if os.environ.get("FIXTURE_FEATURES"):
        with open(os.environ["FIXTURE_FEATURES"]) as f:
            features.update(json.load(f))
        tools["log"] = "Sends a log message per level, then answers."
    if os.environ.get("FIXTURE_CRASH_AT_START") == "loud":
        secret = os.environ.get("FIXTURE_SECRET", "")
        line = (f"fixture: the key {secret} was refused \x1b]0;owned\x07\u009b31m "
                f"{secret[:4]}\x1b{secret[4:]} " + "y" * 3000 + "\n")
        sys.stderr.buffer.write(line.encode())
        sys.stderr.flush()
        sys.exit(2)
    if os.environ.get("FIXTURE_CRASH_AT_START") == "traceback":
        sys.stderr.write('Traceback (most recent call last):\n'
                         '  File "/srv/acme/server.py", line 3, in <module>\n'
                         '    import acme_vendor\n'
                         "ModuleNotFoundError: No module named 'acme_vendor'\n")
        for n in range(60):
            sys.stderr.write(f"fixture: cleaning up {n}\n")
        sys.stderr.flush()
        sys.exit(1)
    slow_while = os.environ.get("FIXTURE_SLOW_WHILE")
    if slow_while and os.path.exists(slow_while):
        mark("starting slowly")
        deadline = time.monotonic() + 120
        while os.path.exists(slow_while) and time.monotonic() < deadline:
            time.sleep(0.05)
    crash_while = os.environ.get("FIXTURE_CRASH_WHILE")
    if os.environ.get("FIXTURE_CRASH_AT_START") or (crash_while and os.path.exists(crash_while)):
        sys.stderr.write("fixture: cannot open its database (on purpose)\n")
        sys.stderr.flush()
        sys.exit(2)
    for line in sys.stdin:
        message = json.loads(line)
        method = message.get("method")
        request_id = message.get("id")
        params = message.get("params") or {}
        if method == "initialize":
            capabilities = {"tools": {"listChanged": True}}
            if features:
                capabilities.update({"prompts": {}, "resources": {"subscribe": True}})
            result(request_id, {
                "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                "capabilities": capabilities,
                "serverInfo": {"name": "gateway-fixture", "version": "1.0.0"},
            })
        elif features and method == "prompts/list":
            result(request_id, {"prompts": features.get("prompts", [])})
        elif features and method == "resources/list":
            result(request_id, {"resources": features.get("resources", [])})
        elif features and method == "resources/templates/list":
            result(request_id, {"resourceTemplates": features.get("resourceTemplates", [])})
        elif features and method == "prompts/get":
            said = f"prompt {params.get('name')} with {json.dumps(params.get('arguments') or {})}"
            result(request_id, {"messages": [{"role": "user", "content": {"type": "text", "text": said}}]})
        elif features and method == "resources/read":
            uri = params.get("uri")
            result(request_id, {"contents": [{"uri": uri, "text": f"contents of {uri}"}]})
        elif features and method == "resources/subscribe":
            uri = params.get("uri")
            mark(f"subscribed {uri}")
            result(request_id, {})
            send({"jsonrpc": "2.0", "method": "notifications/resources/updated",
                  "params": {"uri": uri}})
        elif features and method == "resources/unsubscribe":
            mark(f"unsubscribed {params.get('uri')}")
            result(request_id, {})
        elif method == "tools/list":
            if HOSTILE:
                mark("listed")
            result(request_id, {"tools": definitions()})
        elif method == "tools/call":
            call(request_id, params)
        elif method == "ping":
            result(request_id, {})
        elif method == "notifications/cancelled":
            cancelled.add(params.get("requestId"))
        elif request_id is not None:
            send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": method}})


if __name__ == "__main__":
    main()
