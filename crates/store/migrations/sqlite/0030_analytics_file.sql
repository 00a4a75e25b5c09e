-- The recorded calls move to a database file of their own (issue 34). SQLite lets one
-- connection write to a file at a time; the analytics writer's batches (hundreds of rows,
-- milliseconds each) held that one writer while every walkthrough progress write waited
-- behind them. In `<database>-analytics`, attached to every connection as `analytics`
-- (`sqlite.rs`), they take a lock of their own. Queries name the tables unqualified, and
-- SQLite finds them in the attached file once the main file no longer has them.
--
-- SQLite checks no foreign key across files: the tables lose their reference to
-- `organizations` (no organization is deleted; a person's erasure and retention delete
-- recorded calls explicitly).

CREATE TABLE analytics.tool_calls (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    server_id TEXT NOT NULL,
    session_id TEXT,
    end_user_id TEXT,
    tool_name TEXT NOT NULL,
    arguments TEXT NOT NULL,
    result_summary TEXT NOT NULL,
    is_error BOOLEAN NOT NULL,
    error_code INTEGER,
    duration_us INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    upstream_id TEXT,
    is_test BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO analytics.tool_calls SELECT * FROM main.tool_calls;

CREATE TABLE analytics.tool_call_rollups (
    org_id TEXT NOT NULL,
    hour_start INTEGER NOT NULL,
    server_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    max_us INTEGER NOT NULL,
    l00 INTEGER NOT NULL DEFAULT 0,
    l01 INTEGER NOT NULL DEFAULT 0,
    l02 INTEGER NOT NULL DEFAULT 0,
    l03 INTEGER NOT NULL DEFAULT 0,
    l04 INTEGER NOT NULL DEFAULT 0,
    l05 INTEGER NOT NULL DEFAULT 0,
    l06 INTEGER NOT NULL DEFAULT 0,
    l07 INTEGER NOT NULL DEFAULT 0,
    l08 INTEGER NOT NULL DEFAULT 0,
    l09 INTEGER NOT NULL DEFAULT 0,
    l10 INTEGER NOT NULL DEFAULT 0,
    l11 INTEGER NOT NULL DEFAULT 0,
    l12 INTEGER NOT NULL DEFAULT 0,
    l13 INTEGER NOT NULL DEFAULT 0,
    l14 INTEGER NOT NULL DEFAULT 0,
    l15 INTEGER NOT NULL DEFAULT 0,
    l16 INTEGER NOT NULL DEFAULT 0,
    l17 INTEGER NOT NULL DEFAULT 0,
    l18 INTEGER NOT NULL DEFAULT 0,
    l19 INTEGER NOT NULL DEFAULT 0,
    l20 INTEGER NOT NULL DEFAULT 0,
    l21 INTEGER NOT NULL DEFAULT 0,
    l22 INTEGER NOT NULL DEFAULT 0,
    l23 INTEGER NOT NULL DEFAULT 0,
    l24 INTEGER NOT NULL DEFAULT 0,
    l25 INTEGER NOT NULL DEFAULT 0,
    l26 INTEGER NOT NULL DEFAULT 0,
    l27 INTEGER NOT NULL DEFAULT 0,
    l28 INTEGER NOT NULL DEFAULT 0,
    l29 INTEGER NOT NULL DEFAULT 0,
    l30 INTEGER NOT NULL DEFAULT 0,
    l31 INTEGER NOT NULL DEFAULT 0,
    l32 INTEGER NOT NULL DEFAULT 0,
    l33 INTEGER NOT NULL DEFAULT 0,
    l34 INTEGER NOT NULL DEFAULT 0,
    l35 INTEGER NOT NULL DEFAULT 0,
    l36 INTEGER NOT NULL DEFAULT 0,
    l37 INTEGER NOT NULL DEFAULT 0,
    l38 INTEGER NOT NULL DEFAULT 0,
    l39 INTEGER NOT NULL DEFAULT 0,
    l40 INTEGER NOT NULL DEFAULT 0,
    l41 INTEGER NOT NULL DEFAULT 0,
    l42 INTEGER NOT NULL DEFAULT 0,
    l43 INTEGER NOT NULL DEFAULT 0,
    l44 INTEGER NOT NULL DEFAULT 0,
    l45 INTEGER NOT NULL DEFAULT 0,
    l46 INTEGER NOT NULL DEFAULT 0,
    l47 INTEGER NOT NULL DEFAULT 0,
    l48 INTEGER NOT NULL DEFAULT 0,
    l49 INTEGER NOT NULL DEFAULT 0,
    l50 INTEGER NOT NULL DEFAULT 0,
    l51 INTEGER NOT NULL DEFAULT 0,
    l52 INTEGER NOT NULL DEFAULT 0,
    l53 INTEGER NOT NULL DEFAULT 0,
    l54 INTEGER NOT NULL DEFAULT 0,
    l55 INTEGER NOT NULL DEFAULT 0,
    l56 INTEGER NOT NULL DEFAULT 0,
    l57 INTEGER NOT NULL DEFAULT 0,
    l58 INTEGER NOT NULL DEFAULT 0,
    l59 INTEGER NOT NULL DEFAULT 0,
    l60 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, hour_start, server_id, tool_name)
);
INSERT INTO analytics.tool_call_rollups SELECT * FROM main.tool_call_rollups;

CREATE TABLE analytics.tool_call_daily_rollups (
    org_id TEXT NOT NULL,
    day_start INTEGER NOT NULL,
    server_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    max_us INTEGER NOT NULL,
    l00 INTEGER NOT NULL DEFAULT 0,
    l01 INTEGER NOT NULL DEFAULT 0,
    l02 INTEGER NOT NULL DEFAULT 0,
    l03 INTEGER NOT NULL DEFAULT 0,
    l04 INTEGER NOT NULL DEFAULT 0,
    l05 INTEGER NOT NULL DEFAULT 0,
    l06 INTEGER NOT NULL DEFAULT 0,
    l07 INTEGER NOT NULL DEFAULT 0,
    l08 INTEGER NOT NULL DEFAULT 0,
    l09 INTEGER NOT NULL DEFAULT 0,
    l10 INTEGER NOT NULL DEFAULT 0,
    l11 INTEGER NOT NULL DEFAULT 0,
    l12 INTEGER NOT NULL DEFAULT 0,
    l13 INTEGER NOT NULL DEFAULT 0,
    l14 INTEGER NOT NULL DEFAULT 0,
    l15 INTEGER NOT NULL DEFAULT 0,
    l16 INTEGER NOT NULL DEFAULT 0,
    l17 INTEGER NOT NULL DEFAULT 0,
    l18 INTEGER NOT NULL DEFAULT 0,
    l19 INTEGER NOT NULL DEFAULT 0,
    l20 INTEGER NOT NULL DEFAULT 0,
    l21 INTEGER NOT NULL DEFAULT 0,
    l22 INTEGER NOT NULL DEFAULT 0,
    l23 INTEGER NOT NULL DEFAULT 0,
    l24 INTEGER NOT NULL DEFAULT 0,
    l25 INTEGER NOT NULL DEFAULT 0,
    l26 INTEGER NOT NULL DEFAULT 0,
    l27 INTEGER NOT NULL DEFAULT 0,
    l28 INTEGER NOT NULL DEFAULT 0,
    l29 INTEGER NOT NULL DEFAULT 0,
    l30 INTEGER NOT NULL DEFAULT 0,
    l31 INTEGER NOT NULL DEFAULT 0,
    l32 INTEGER NOT NULL DEFAULT 0,
    l33 INTEGER NOT NULL DEFAULT 0,
    l34 INTEGER NOT NULL DEFAULT 0,
    l35 INTEGER NOT NULL DEFAULT 0,
    l36 INTEGER NOT NULL DEFAULT 0,
    l37 INTEGER NOT NULL DEFAULT 0,
    l38 INTEGER NOT NULL DEFAULT 0,
    l39 INTEGER NOT NULL DEFAULT 0,
    l40 INTEGER NOT NULL DEFAULT 0,
    l41 INTEGER NOT NULL DEFAULT 0,
    l42 INTEGER NOT NULL DEFAULT 0,
    l43 INTEGER NOT NULL DEFAULT 0,
    l44 INTEGER NOT NULL DEFAULT 0,
    l45 INTEGER NOT NULL DEFAULT 0,
    l46 INTEGER NOT NULL DEFAULT 0,
    l47 INTEGER NOT NULL DEFAULT 0,
    l48 INTEGER NOT NULL DEFAULT 0,
    l49 INTEGER NOT NULL DEFAULT 0,
    l50 INTEGER NOT NULL DEFAULT 0,
    l51 INTEGER NOT NULL DEFAULT 0,
    l52 INTEGER NOT NULL DEFAULT 0,
    l53 INTEGER NOT NULL DEFAULT 0,
    l54 INTEGER NOT NULL DEFAULT 0,
    l55 INTEGER NOT NULL DEFAULT 0,
    l56 INTEGER NOT NULL DEFAULT 0,
    l57 INTEGER NOT NULL DEFAULT 0,
    l58 INTEGER NOT NULL DEFAULT 0,
    l59 INTEGER NOT NULL DEFAULT 0,
    l60 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day_start, server_id, tool_name)
);
INSERT INTO analytics.tool_call_daily_rollups SELECT * FROM main.tool_call_daily_rollups;
DROP TABLE main.tool_calls;
DROP TABLE main.tool_call_rollups;
DROP TABLE main.tool_call_daily_rollups;

CREATE INDEX analytics.tool_calls_org ON tool_calls(org_id, created_at);
CREATE INDEX analytics.tool_calls_server ON tool_calls(server_id, created_at);
CREATE INDEX analytics.tool_calls_created ON tool_calls(created_at);
CREATE INDEX analytics.tool_calls_end_user ON tool_calls(end_user_id, created_at);
CREATE INDEX analytics.tool_calls_tool ON tool_calls(org_id, tool_name, created_at);
CREATE INDEX analytics.tool_calls_org_errors ON tool_calls(org_id, created_at) WHERE is_error;
CREATE INDEX analytics.tool_calls_tool_errors ON tool_calls(org_id, tool_name, created_at) WHERE is_error;
CREATE INDEX analytics.tool_calls_server_errors ON tool_calls(server_id, created_at) WHERE is_error;
CREATE INDEX analytics.tool_calls_end_user_errors ON tool_calls(end_user_id, created_at) WHERE is_error;
CREATE INDEX analytics.tool_call_rollups_hour ON tool_call_rollups(hour_start);
CREATE INDEX analytics.tool_call_daily_rollups_day ON tool_call_daily_rollups(day_start);
