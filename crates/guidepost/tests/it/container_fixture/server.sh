#!/bin/sh
# A minimal MCP server over stdio, in busybox sh, for the gateway's container test: it
# answers initialize, tools/list and ping, and its one tool, `limits`, reports what its
# container may use (memory, pids, root file system, capabilities, network interfaces)
# as read from inside; `reach` sends GET / to $PROBE_HOST:$PROBE_PORT directly and through
# $http_proxy (when the gateway gave it one), and reports the first words of each answer;
# `remember` adds a line to /data/notes and reports how many it holds. Requests are single
# JSON lines with numeric ids (rmcp's client).
reply() { printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$1" "$2"; }
first() { for f in "$@"; do [ -r "$f" ] && { cat "$f"; return; }; done; echo unknown; }
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
  case "$line" in
    *'"method":"initialize"'*)
      version=$(printf '%s' "$line" | sed -n 's/.*"protocolVersion":"\([^"]*\)".*/\1/p')
      reply "$id" "{\"protocolVersion\":\"$version\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"container-fixture\",\"version\":\"1.0.0\"}}" ;;
    *'"method":"tools/list"'*)
      reply "$id" '{"tools":[{"name":"limits","description":"Reports the limits of its container.","inputSchema":{"type":"object"}},{"name":"reach","description":"Fetches the probe URL.","inputSchema":{"type":"object"}},{"name":"remember","description":"Counts its calls in its data directory.","inputSchema":{"type":"object"}}]}' ;;
    *'"method":"tools/call"'*'"name":"remember"'*)
      if echo seen >>/data/notes 2>/dev/null; then count=$(wc -l </data/notes | tr -d ' '); else count=unwritable; fi
      reply "$id" "{\"content\":[{\"type\":\"text\",\"text\":\"remembered=$count owner=$(stat -c %u /data 2>/dev/null)\"}]}" ;;
    *'"method":"tools/call"'*'"name":"reach"'*)
      # Directly, then through the proxy it was given (busybox's wget crashes; nc speaks).
      direct=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 "$PROBE_HOST" "$PROBE_PORT" 2>&1 | head -c 100 | tr -d '"\\\r\n\t')
      proxy=${http_proxy#http://}
      fenced=none
      [ -n "$proxy" ] && fenced=$(printf 'GET http://%s:%s/ HTTP/1.0\r\n\r\n' "$PROBE_HOST" "$PROBE_PORT" | nc -w 3 "${proxy%:*}" "${proxy##*:}" 2>&1 | head -c 100 | tr -d '"\\\r\n\t')
      reply "$id" "{\"content\":[{\"type\":\"text\",\"text\":\"direct=$direct proxy=${http_proxy:-none} fenced=$fenced\"}]}" ;;
    *'"method":"tools/call"'*)
      memory=$(first /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes)
      pids=$(first /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max)
      if touch /probe 2>/dev/null; then root=writable; else root=read-only; fi
      caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
      nets=$(ls /sys/class/net | tr '\n' ',')
      user=$(id -u)
      reply "$id" "{\"content\":[{\"type\":\"text\",\"text\":\"memory=$memory pids=$pids root=$root caps=$caps net=$nets uid=$user\"}]}" ;;
    *'"method":"ping"'*)
      reply "$id" '{}' ;;
    *'"method":"notifications/'*) ;;
    *)
      [ -n "$id" ] && printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"not here"}}\n' "$id" ;;
  esac
done
