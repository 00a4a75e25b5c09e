-- One stateless (2026-07-28) MCP request, sent over and over by wrk, to load a running
-- Guidepost's MCP endpoint alone (docs/PERFORMANCE.md, "Where a call's time goes"):
--
--   guidepost serve --demo --rate-limit-per-user 0 --rate-limit-per-ip 0
--   TOOL=list_walkthroughs wrk -t1 -c16 -d8s -s scripts/wrk-tools-call.lua \
--       'http://127.0.0.1:8080/s/demo/mcp?tracking_id=demo-wrk'
--
-- TOOL names the tool (default list_walkthroughs), ARGS its arguments as a JSON object
-- (default {}); METHOD=tools/list sends that instead of tools/call.
local tool = os.getenv("TOOL") or "list_walkthroughs"
local args = os.getenv("ARGS") or "{}"
local method = os.getenv("METHOD") or "tools/call"
local meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
  .. '"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"},'
  .. '"io.modelcontextprotocol/clientCapabilities":{}}'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["mcp-protocol-version"] = "2026-07-28"
wrk.headers["mcp-method"] = method
if method == "tools/call" then
  wrk.headers["mcp-name"] = tool
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' .. tool
    .. '","arguments":' .. args .. ',' .. meta .. '}}'
else
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"' .. method .. '","params":{' .. meta .. '}}'
end
