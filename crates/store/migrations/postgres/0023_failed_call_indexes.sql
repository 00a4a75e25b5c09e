-- The call log's "errors only" (issue 30): failed calls are about 3 % of all, so a page of
-- one tool's failures walked some 5,000 of that tool's calls through `tool_calls_tool`.
-- Partial indexes of the failed calls alone, one per leading filter of the listing (the
-- organization by time, a tool, a server, a person), give the page its rows directly; the
-- other 97 % of calls are written to none of them.
CREATE INDEX tool_calls_org_errors ON tool_calls(org_id, created_at) WHERE is_error;
CREATE INDEX tool_calls_tool_errors ON tool_calls(org_id, tool_name, created_at) WHERE is_error;
CREATE INDEX tool_calls_server_errors ON tool_calls(server_id, created_at) WHERE is_error;
CREATE INDEX tool_calls_end_user_errors ON tool_calls(end_user_id, created_at) WHERE is_error;
