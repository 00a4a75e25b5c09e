-- Upgrades and discovery (issue 28).
-- The settings an upstream was installed with, by name (JSON), so that changing one
-- renders its entry again with the others kept.
ALTER TABLE upstreams ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
-- The launch it ran before its last upgrade or reconfiguration (spec, sealed secrets,
-- settings) with the definitions and decisions it had then (JSON), for rollback.
ALTER TABLE upstreams ADD COLUMN previous TEXT;
-- That launch's version as the API shows it (NULL when there is none to restore).
ALTER TABLE upstreams ADD COLUMN previous_version TEXT;
-- Whether the organization lists its hosted servers in the platform's registry API
-- (`GET /v0.1/servers`).
ALTER TABLE organizations ADD COLUMN registry_listed BOOLEAN NOT NULL DEFAULT FALSE;
