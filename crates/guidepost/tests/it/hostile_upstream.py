"""A small stdio MCP server the gateway tests install as an operator catalog `command`
upstream, playing a package that tries to escape its confinement (Python standard library
only, so that it runs as `nobody` under /usr/bin/python3 with nothing else installed).

Every tool answers one text content whose text is a JSON object; a failure is reported in
it as `{"ok": false, "error": "<ExceptionType>: <message>", "errno": <int or null>}`, and
never ends the server.

- `read {path}`: reads up to 64 bytes of the file; answers `bytes`.
- `list {path}`: lists the directory; answers its first 50 `entries` (sorted).
- `write {path}`: writes `escaped` to the file (created or truncated).
- `signal {pid, signal}`: sends the signal (0 unless given) to the process.
- `connect {host, port, timeout}`: opens (and closes) a TCP connection (timeout 3 s unless given).
- `unix_connect {path}`: connects to a Unix stream socket.
- `via_proxy {host, port}`: through the proxy in $HTTPS_PROXY (`http://127.0.0.1:PORT`),
  sends CONNECT host:port, then `GET /` through the tunnel; answers the proxy's `status`
  and the first 4096 bytes of the answer as `body` (5 s timeouts).
- `processes {count}`: forks up to `count` children that sleep 30 s, stopping at the first
  failure; answers `started` and the first `error` (or null), after killing and reaping them.
- `allocate {mib}`: forks a child that allocates and touches `mib` MiB, waits for it, and
  answers its `child_exit` and `child_signal` (9 when the OOM killer took it; exit 3 on
  MemoryError).
- `double_fork`: leaves a grandchild in a new session, stdio closed, sleeping 600 s, that
  writes its pid to $HOME/escaped.pid; answers its `pid` (and whether `pid_file` appeared).
- `whoami`: answers uid, gid, pid, ppid, cwd, home, the names of the environment variables,
  the proxy ($HTTPS_PROXY or null) and `proxy_at_start`: what connecting to that proxy
  gave as the very first thing the server did ("open", the error, or null without one).
- `echo {message}`: answers the message.
- `shm_create {key, mib}`: makes a SysV shared memory segment (mode 0600) of that size,
  touches every page, detaches, and answers its `shmid` (the segment stays).
- `shm_attach {key, shmid}`: looks the key up and attaches the segment read-only; ok when
  either works (`key_errno`, `attach_errno` say why not).
- `visible {up_to}`: which pids from 1 to `up_to` (65,536 unless given) answer `kill(pid, 0)`
  with success or EPERM (they exist where it can see them): `count` and the first 20 `pids`.
- `prlimit {pid}`: sets that process's open-file limit to 0.
- `renice {pid}`: sets that process's nice value to 19; without `pid`, every process of its
  user (PRIO_USER).
- `vsock`: opens an AF_VSOCK socket.

Every process reports its identity (a number in $FIXTURE_IDENTITY, found by the tests in the
host's /proc) where the tools above say pid: `whoami`'s `identity`, `double_fork`'s `pid`.
"""

import ctypes
import json
import os
import random
import resource
import select
import signal as signals
import socket
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()


def new_identity():
    return str(random.SystemRandom().randrange(10**11, 10**12))


# Its identity for the tests, as upstream_fixture.py's: a number in its environment that
# the tests find in the host's /proc (its pid means nothing outside its PID namespace).
IDENTITY = os.environ.get("FIXTURE_IDENTITY")
if not IDENTITY:
    os.execve(sys.executable, sys.orig_argv, {**os.environ, "FIXTURE_IDENTITY": new_identity()})


def probe_proxy_at_start():
    proxy = os.environ.get("HTTPS_PROXY")
    if not proxy:
        return None
    parts = urllib.parse.urlsplit(proxy)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
        return "open"
    except OSError as error:
        return f"{type(error).__name__}: {error}"


PROXY_AT_START = probe_proxy_at_start()


def send(message):
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def result(request_id, value):
    send({"jsonrpc": "2.0", "id": request_id, "result": value})


def failure(error, **extra):
    number = getattr(error, "errno", None)
    answer = {"ok": False, "error": f"{type(error).__name__}: {error}",
              "errno": number if isinstance(number, int) else None}
    answer.update(extra)
    return answer


def string(description):
    return {"type": "string", "description": description}


def integer(description):
    return {"type": "integer", "description": description}


def schema(properties, required=()):
    return {"type": "object", "properties": properties, "required": list(required)}


# name -> (description, inputSchema)
TOOLS = {
    "read": ("Reads up to 64 bytes of a file.",
             schema({"path": string("The file to read.")}, ["path"])),
    "list": ("Lists a directory.",
             schema({"path": string("The directory to list.")}, ["path"])),
    "write": ("Writes 'escaped' to a file.",
              schema({"path": string("The file to write.")}, ["path"])),
    "signal": ("Sends a signal to a process.",
               schema({"pid": integer("The process."),
                       "signal": integer("The signal number (0 unless given).")}, ["pid"])),
    "connect": ("Opens a TCP connection.",
                schema({"host": string("The host."), "port": integer("The port."),
                        "timeout": {"type": "number", "description": "Seconds (3 unless given)."}},
                       ["host", "port"])),
    "unix_connect": ("Connects to a Unix stream socket.",
                     schema({"path": string("The socket's path.")}, ["path"])),
    "via_proxy": ("Fetches / from host:port through the CONNECT proxy in $HTTPS_PROXY.",
                  schema({"host": string("The host."), "port": integer("The port.")},
                         ["host", "port"])),
    "processes": ("Starts child processes, then kills them.",
                  schema({"count": integer("How many children to try to start.")}, ["count"])),
    "allocate": ("Allocates memory in a child process.",
                 schema({"mib": integer("How many MiB the child allocates.")}, ["mib"])),
    "double_fork": ("Leaves a daemonised grandchild behind.", schema({})),
    "whoami": ("Answers who and where the server is.", schema({})),
    "echo": ("Echoes the message.", schema({"message": string("The message.")})),
    "shm_create": ("Makes a SysV shared memory segment.",
                   schema({"key": integer("The key."), "mib": integer("Its size.")}, ["key", "mib"])),
    "shm_attach": ("Attaches a SysV shared memory segment.",
                   schema({"key": integer("The key."), "shmid": integer("The id.")}, ["key", "shmid"])),
    "visible": ("Counts the processes it can see.", schema({"up_to": integer("The last pid.")})),
    "prlimit": ("Sets a process's open-file limit to 0.", schema({"pid": integer("The process.")}, ["pid"])),
    "renice": ("Renices a process, or every process of its user.", schema({"pid": integer("The process.")})),
    "vsock": ("Opens an AF_VSOCK socket.", schema({})),
    "fill": ("Writes zeros into a file of its directory, a MiB at a time, up to mib MiB.",
             schema({"mib": integer("How much to write."), "name": string("The file's name.")}, ["mib"])),
}

libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmdt.argtypes = [ctypes.c_void_p]
IPC_CREAT = 0o1000
SHM_RDONLY = 0o10000
FAILED = ctypes.c_void_p(-1).value


def last_os_error():
    number = ctypes.get_errno()
    return OSError(number, os.strerror(number))


def tool_shm_create(arguments):
    size = int(arguments["mib"]) * 1024 * 1024
    shmid = libc.shmget(int(arguments["key"]), size, IPC_CREAT | 0o600)
    if shmid < 0:
        raise last_os_error()
    address = libc.shmat(shmid, None, 0)
    if address in (None, FAILED):
        raise last_os_error()
    ctypes.memset(address, 1, size)
    libc.shmdt(address)
    return {"ok": True, "shmid": shmid}


def tool_shm_attach(arguments):
    found = libc.shmget(int(arguments["key"]), 0, 0)
    key_errno = ctypes.get_errno() if found < 0 else None
    address = libc.shmat(int(arguments["shmid"]), None, SHM_RDONLY)
    attach_errno = ctypes.get_errno() if address in (None, FAILED) else None
    if attach_errno is None:
        libc.shmdt(address)
    ok = found >= 0 or attach_errno is None
    return {"ok": ok, "key_errno": key_errno, "attach_errno": attach_errno}


def tool_visible(arguments):
    pids = []
    for pid in range(1, int(arguments.get("up_to", 65536) or 65536) + 1):
        try:
            os.kill(pid, 0)
            pids.append(pid)
        except PermissionError:
            pids.append(pid)
        except OSError:
            pass
    return {"ok": True, "count": len(pids), "pids": pids[:20]}


def tool_prlimit(arguments):
    resource.prlimit(int(arguments["pid"]), resource.RLIMIT_NOFILE, (0, 0))
    return {"ok": True}


def tool_renice(arguments):
    if arguments.get("pid") is None:
        os.setpriority(os.PRIO_USER, os.getuid(), 19)
    else:
        os.setpriority(os.PRIO_PROCESS, int(arguments["pid"]), 19)
    return {"ok": True}


def tool_vsock(arguments):
    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
    return {"ok": True}


def tool_fill(arguments):
    written = 0
    chunk = bytes(1024 * 1024)
    try:
        with open(arguments.get("name") or "filler", "wb") as f:
            for _ in range(int(arguments["mib"])):
                f.write(chunk)
                f.flush()
                written += 1
            os.fsync(f.fileno())
    except OSError as error:
        return failure(error, written_mib=written)
    return {"ok": True, "written_mib": written}


def definitions():
    return [{"name": name, "description": about, "inputSchema": input_schema}
            for name, (about, input_schema) in TOOLS.items()]


def tool_read(arguments):
    with open(arguments["path"], "rb") as f:
        return {"ok": True, "bytes": len(f.read(64))}


def tool_list(arguments):
    return {"ok": True, "entries": sorted(os.listdir(arguments["path"]))[:50]}


def tool_write(arguments):
    with open(arguments["path"], "wb") as f:
        f.write(b"escaped")
    return {"ok": True}


def tool_signal(arguments):
    os.kill(int(arguments["pid"]), int(arguments.get("signal", 0) or 0))
    return {"ok": True}


def tool_connect(arguments):
    timeout = float(arguments.get("timeout", 3) or 3)
    connection = socket.create_connection((str(arguments["host"]), int(arguments["port"])),
                                          timeout=timeout)
    connection.close()
    return {"ok": True}


def tool_unix_connect(arguments):
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(3)
        connection.connect(str(arguments["path"]))
    finally:
        connection.close()
    return {"ok": True}


def tool_via_proxy(arguments):
    status = None
    try:
        host = str(arguments["host"])
        port = int(arguments["port"])
        proxy = os.environ.get("HTTPS_PROXY")
        if not proxy:
            raise RuntimeError("HTTPS_PROXY is not set")
        parts = urllib.parse.urlsplit(proxy)
        if not parts.hostname:
            raise ValueError(f"cannot read the proxy address {proxy!r}")
        connection = socket.create_connection((parts.hostname, parts.port or 80), timeout=5)
        try:
            target = f"{host}:{port}"
            connection.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                head += chunk
                if len(head) > 65536:
                    break
            status_line, _, rest = head.partition(b"\r\n")
            words = status_line.split()
            if len(words) < 2 or not words[1].isdigit():
                raise RuntimeError(f"the proxy answered {status_line[:200]!r}")
            status = int(words[1])
            if status != 200:
                # The refusal's own words follow its head, then the fence closes.
                said = head.partition(b"\r\n\r\n")[2]
                while len(said) < 300:
                    chunk = connection.recv(300)
                    if not chunk:
                        break
                    said += chunk
                said = said[:300].decode("utf-8", "replace").strip()
                raise RuntimeError(
                    f"the proxy answered {status_line.decode('utf-8', 'replace')}: {said}")
            # Whatever came after the proxy's header already belongs to the tunnel.
            body = head.partition(b"\r\n\r\n")[2]
            connection.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            while len(body) < 4096:
                try:
                    chunk = connection.recv(4096 - len(body))
                except socket.timeout:
                    if body:
                        break
                    raise
                if not chunk:
                    break
                body += chunk
        finally:
            connection.close()
        return {"ok": True, "status": status, "body": body[:4096].decode("utf-8", "replace")}
    except Exception as error:
        return failure(error, status=status)


def tool_processes(arguments):
    count = int(arguments["count"])
    children = []
    first_error = None
    try:
        for _ in range(count):
            try:
                pid = os.fork()
            except OSError as error:
                first_error = f"{type(error).__name__}: {error}"
                break
            if pid == 0:
                try:
                    time.sleep(30)
                finally:
                    os._exit(0)
            children.append(pid)
        return {"ok": True, "started": len(children), "error": first_error}
    finally:
        for pid in children:
            try:
                os.kill(pid, signals.SIGKILL)
            except OSError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass


def tool_allocate(arguments):
    size = int(arguments["mib"]) * 1024 * 1024
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            # Offer itself first to the OOM killer, so that the server is spared.
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write("1000")
            except Exception:
                pass
            memory = bytearray(size)
            touched = len(range(0, size, 4096))
            memory[::4096] = b"\x01" * touched
        except MemoryError:
            code = 3
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return {"ok": True,
            "child_exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "child_signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}


def tool_double_fork(arguments):
    home = os.environ.get("HOME")
    if not home:
        raise RuntimeError("HOME is not set")
    pid_file = os.path.join(home, "escaped.pid")
    try:
        os.unlink(pid_file)
    except FileNotFoundError:
        pass
    reader, writer = os.pipe()
    try:
        child = os.fork()
    except BaseException:
        os.close(reader)
        os.close(writer)
        raise
    if child == 0:
        try:
            os.close(reader)
            os.setsid()
            if os.fork() == 0:
                try:
                    null = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(null, fd)
                    if null > 2:
                        os.close(null)
                    mine = new_identity()
                    try:
                        partial = pid_file + ".partial"
                        with open(partial, "w") as f:
                            f.write(mine + "\n")
                        os.rename(partial, pid_file)
                    except Exception:
                        pass
                    os.write(writer, mine.encode())
                    os.close(writer)
                    os.execve("/bin/sleep", ["sleep", "600"], {"FIXTURE_IDENTITY": mine})
                finally:
                    os._exit(0)
        finally:
            os._exit(0)
    os.close(writer)
    try:
        os.waitpid(child, 0)
        deadline = time.monotonic() + 2
        grandchild = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([reader], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(reader, 64)
            if not chunk:
                break
            grandchild += chunk
    finally:
        os.close(reader)
    while not os.path.exists(pid_file) and time.monotonic() < deadline:
        time.sleep(0.02)
    appeared = os.path.exists(pid_file)
    if not grandchild and appeared:
        with open(pid_file) as f:
            grandchild = f.read().strip().encode()
    if not grandchild:
        raise RuntimeError("the grandchild did not report its pid")
    return {"ok": True, "pid": int(grandchild), "pid_file": appeared}


def tool_whoami(arguments):
    return {"ok": True, "uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "identity": IDENTITY,
            "ppid": os.getppid(), "cwd": os.getcwd(), "home": os.environ.get("HOME"),
            "env": sorted(os.environ.keys()), "proxy": os.environ.get("HTTPS_PROXY"),
            "proxy_at_start": PROXY_AT_START}


def tool_echo(arguments):
    return {"ok": True, "message": arguments.get("message")}


HANDLERS = {
    "read": tool_read,
    "list": tool_list,
    "write": tool_write,
    "signal": tool_signal,
    "connect": tool_connect,
    "unix_connect": tool_unix_connect,
    "via_proxy": tool_via_proxy,
    "processes": tool_processes,
    "allocate": tool_allocate,
    "double_fork": tool_double_fork,
    "whoami": tool_whoami,
    "echo": tool_echo,
    "shm_create": tool_shm_create,
    "shm_attach": tool_shm_attach,
    "visible": tool_visible,
    "prlimit": tool_prlimit,
    "renice": tool_renice,
    "vsock": tool_vsock,
    "fill": tool_fill,
}


def call(request_id, params):
    name = params.get("name")
    arguments = params.get("arguments") or {}
    handler = HANDLERS.get(name)
    if handler is None:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": f"no tool {name}"}})
        return
    try:
        answer = handler(arguments)
    except Exception as error:
        answer = failure(error)
    result(request_id, {"content": [{"type": "text", "text": json.dumps(answer)}]})


def main():
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            break
        line = line.decode("utf-8", "replace").strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError as error:
            send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": str(error)}})
            continue
        if not isinstance(message, dict):
            continue
        method = message.get("method")
        request_id = message.get("id")
        params = message.get("params") or {}
        if method is None:
            continue
        if method == "initialize":
            result(request_id, {
                "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hostile-upstream", "version": "1.0.0"},
            })
        elif method == "tools/list":
            result(request_id, {"tools": definitions()})
        elif method == "tools/call":
            call(request_id, params)
        elif method == "ping":
            result(request_id, {})
        elif request_id is not None:
            send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": method}})


main()
