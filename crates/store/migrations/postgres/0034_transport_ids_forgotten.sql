-- A recorded call names its session by the session's id (`mss_…`). Calls recorded before
-- that named it by the transport's Mcp-Session-Id, with which whoever reads the call (a
-- read key, a viewer, a person's data export) could have gone on with the session while
-- it lived: those are forgotten. The calls stay, with no session.
UPDATE tool_calls SET session_id = NULL
WHERE session_id IS NOT NULL AND session_id NOT LIKE 'mss\_%' ESCAPE '\';
