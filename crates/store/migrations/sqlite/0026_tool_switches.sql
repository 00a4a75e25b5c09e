-- Single tools switched off per hosted server (issue 30): their exposed names, as a JSON
-- list kept with the server, so the node cache and the change feed cover them as they
-- cover the server's other settings.
ALTER TABLE mcp_servers ADD COLUMN disabled_tools TEXT NOT NULL DEFAULT '[]';
