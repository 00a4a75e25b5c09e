-- API keys get scopes (issue 26, L4): what a key may do, as a comma-separated list of
-- read, write, gateway and admin. Every key made before scopes could do everything, so
-- existing keys keep every scope; new keys are always written with their own.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read,write,gateway,admin';
