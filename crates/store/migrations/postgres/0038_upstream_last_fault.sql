-- What Guidepost itself observed of an upstream's last failure (domain::UpstreamFault),
-- as JSON with a kind, beside its words in last_error; the diagnosis matches on it.
ALTER TABLE upstreams ADD COLUMN last_fault TEXT;
