-- Why a recorded call was refused before any tool ran: an unknown tool name, or
-- arguments the tool (or its upstream) refused. The missing-capabilities report groups
-- these; the partial index keeps it off the calls that ran.
ALTER TABLE tool_calls ADD COLUMN refusal TEXT;
CREATE INDEX tool_calls_refusals ON tool_calls(server_id, created_at) WHERE refusal IS NOT NULL;
