-- Daily rollups beside the hourly ones (migration 0021), so that a report over 30 days
-- sums about 24 times fewer rows: the whole UTC days of a window are read from here, the
-- hours at its ragged ends from `tool_call_rollups`. A day's row is the sum of its 24 hourly
-- rows (the same counts, errors, slowest call and histogram), written by the analytics
-- writer in the transaction that adds to the hourly ones; retention deletes both grains by
-- whole days, so that they always cover the same hours.

-- First, the hours whose rollups counted test calls (the tool tester's, migration 0022,
-- summed until the writer left them out): retallied from the calls, without the test
-- calls. Only hours that start after the oldest call kept are retallied, since retention
-- deletes calls oldest first and only those hours still have every call; an older hour
-- with test calls keeps its count until retention deletes it.
CREATE TEMPORARY TABLE retallied_hours AS
SELECT DISTINCT org_id, created_at / 3600000000 * 3600000000 AS hour_start, server_id, tool_name
FROM tool_calls
WHERE is_test AND created_at / 3600000000 * 3600000000 > (SELECT MIN(created_at) FROM tool_calls);

DELETE FROM tool_call_rollups WHERE (org_id, hour_start, server_id, tool_name) IN
    (SELECT org_id, hour_start, server_id, tool_name FROM retallied_hours);

INSERT INTO tool_call_rollups (org_id, hour_start, server_id, tool_name, calls, errors, max_us,
    l00, l01, l02, l03, l04, l05, l06, l07, l08, l09, l10, l11, l12, l13, l14, l15, l16, l17, l18, l19, l20, l21, l22, l23, l24, l25, l26, l27, l28, l29,
    l30, l31, l32, l33, l34, l35, l36, l37, l38, l39, l40, l41, l42, l43, l44, l45, l46, l47, l48, l49, l50, l51, l52, l53, l54, l55, l56, l57, l58, l59, l60)
SELECT c.org_id, c.created_at / 3600000000 * 3600000000, c.server_id, c.tool_name, COUNT(*),
    SUM(CASE WHEN c.is_error THEN 1 ELSE 0 END), MAX(c.duration_us),
    SUM(CASE WHEN c.duration_us <= 100 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 100 AND c.duration_us <= 125 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 125 AND c.duration_us <= 160 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 160 AND c.duration_us <= 200 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 200 AND c.duration_us <= 250 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 250 AND c.duration_us <= 315 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 315 AND c.duration_us <= 400 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 400 AND c.duration_us <= 500 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 500 AND c.duration_us <= 630 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 630 AND c.duration_us <= 800 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 800 AND c.duration_us <= 1000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 1000 AND c.duration_us <= 1250 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 1250 AND c.duration_us <= 1600 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 1600 AND c.duration_us <= 2000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 2000 AND c.duration_us <= 2500 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 2500 AND c.duration_us <= 3150 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 3150 AND c.duration_us <= 4000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 4000 AND c.duration_us <= 5000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 5000 AND c.duration_us <= 6300 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 6300 AND c.duration_us <= 8000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 8000 AND c.duration_us <= 10000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 10000 AND c.duration_us <= 12500 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 12500 AND c.duration_us <= 16000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 16000 AND c.duration_us <= 20000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 20000 AND c.duration_us <= 25000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 25000 AND c.duration_us <= 31500 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 31500 AND c.duration_us <= 40000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 40000 AND c.duration_us <= 50000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 50000 AND c.duration_us <= 63000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 63000 AND c.duration_us <= 80000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 80000 AND c.duration_us <= 100000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 100000 AND c.duration_us <= 125000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 125000 AND c.duration_us <= 160000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 160000 AND c.duration_us <= 200000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 200000 AND c.duration_us <= 250000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 250000 AND c.duration_us <= 315000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 315000 AND c.duration_us <= 400000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 400000 AND c.duration_us <= 500000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 500000 AND c.duration_us <= 630000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 630000 AND c.duration_us <= 800000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 800000 AND c.duration_us <= 1000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 1000000 AND c.duration_us <= 1250000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 1250000 AND c.duration_us <= 1600000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 1600000 AND c.duration_us <= 2000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 2000000 AND c.duration_us <= 2500000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 2500000 AND c.duration_us <= 3150000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 3150000 AND c.duration_us <= 4000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 4000000 AND c.duration_us <= 5000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 5000000 AND c.duration_us <= 6300000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 6300000 AND c.duration_us <= 8000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 8000000 AND c.duration_us <= 10000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 10000000 AND c.duration_us <= 12500000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 12500000 AND c.duration_us <= 16000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 16000000 AND c.duration_us <= 20000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 20000000 AND c.duration_us <= 25000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 25000000 AND c.duration_us <= 31500000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 31500000 AND c.duration_us <= 40000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 40000000 AND c.duration_us <= 50000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 50000000 AND c.duration_us <= 63000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 63000000 AND c.duration_us <= 80000000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.duration_us > 80000000 THEN 1 ELSE 0 END)
FROM retallied_hours r JOIN tool_calls c ON c.org_id = r.org_id AND c.tool_name = r.tool_name
    AND c.server_id = r.server_id AND c.created_at >= r.hour_start
    AND c.created_at < r.hour_start + 3600000000
WHERE NOT c.is_test
GROUP BY c.org_id, c.created_at / 3600000000, c.server_id, c.tool_name;

DROP TABLE retallied_hours;

CREATE TABLE tool_call_daily_rollups (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
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
CREATE INDEX tool_call_daily_rollups_day ON tool_call_daily_rollups(day_start);

-- The days so far, summed from their hours.
INSERT INTO tool_call_daily_rollups (org_id, day_start, server_id, tool_name, calls, errors, max_us,
    l00, l01, l02, l03, l04, l05, l06, l07, l08, l09, l10, l11, l12, l13, l14, l15, l16, l17, l18, l19, l20, l21, l22, l23, l24, l25, l26, l27, l28, l29,
    l30, l31, l32, l33, l34, l35, l36, l37, l38, l39, l40, l41, l42, l43, l44, l45, l46, l47, l48, l49, l50, l51, l52, l53, l54, l55, l56, l57, l58, l59, l60)
SELECT org_id, hour_start / 86400000000 * 86400000000, server_id, tool_name, SUM(calls), SUM(errors),
    MAX(max_us),
    SUM(l00), SUM(l01), SUM(l02), SUM(l03), SUM(l04), SUM(l05), SUM(l06), SUM(l07), SUM(l08), SUM(l09), SUM(l10), SUM(l11),
    SUM(l12), SUM(l13), SUM(l14), SUM(l15), SUM(l16), SUM(l17), SUM(l18), SUM(l19), SUM(l20), SUM(l21), SUM(l22), SUM(l23),
    SUM(l24), SUM(l25), SUM(l26), SUM(l27), SUM(l28), SUM(l29), SUM(l30), SUM(l31), SUM(l32), SUM(l33), SUM(l34), SUM(l35),
    SUM(l36), SUM(l37), SUM(l38), SUM(l39), SUM(l40), SUM(l41), SUM(l42), SUM(l43), SUM(l44), SUM(l45), SUM(l46), SUM(l47),
    SUM(l48), SUM(l49), SUM(l50), SUM(l51), SUM(l52), SUM(l53), SUM(l54), SUM(l55), SUM(l56), SUM(l57), SUM(l58), SUM(l59),
    SUM(l60)
FROM tool_call_rollups GROUP BY org_id, hour_start / 86400000000, server_id, tool_name;
