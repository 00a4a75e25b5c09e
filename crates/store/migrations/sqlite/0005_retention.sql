-- Retention (SPEC §6): pruning tool calls by age in batches, and finding the registered
-- clients and anonymous end users that nothing refers to any more.
CREATE INDEX tool_calls_created ON tool_calls(created_at);
CREATE INDEX tool_calls_end_user ON tool_calls(end_user_id);
CREATE INDEX oauth_grants_client ON oauth_grants(client_id);
CREATE INDEX oauth_login_sessions_client ON oauth_login_sessions(client_id);
CREATE INDEX support_requests_end_user ON support_requests(end_user_id);
