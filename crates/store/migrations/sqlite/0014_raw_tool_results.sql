-- Hardening (issue 26, L6): upstream tool results reach agents with control, invisible
-- and bidirectional characters stripped, unless the organization keeps them raw.
ALTER TABLE organizations ADD COLUMN raw_tool_results BOOLEAN NOT NULL DEFAULT FALSE;
