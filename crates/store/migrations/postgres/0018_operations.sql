-- Operations (issue 29): when an upstream was marked failed, so that `upstream.failed` is
-- announced once per failure and `upstream.recovered` once it runs again (cleared then).
ALTER TABLE upstreams ADD COLUMN failed_since BIGINT;
