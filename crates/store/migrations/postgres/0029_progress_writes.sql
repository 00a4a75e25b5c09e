-- Every advance of a walkthrough writes its progress row, and every write changes
-- `last_activity_at`, a column of `walkthrough_progress_user`: no write could be a HOT
-- update, so each step added an entry to all four of the table's indexes and left dead
-- ones behind (issue 34, the walkthrough mix). The unique key
-- (end_user_id, server_id, walkthrough_id) already leads with the same two columns, so it
-- serves the lookups by end user (and server), which sort an end user's few rows by
-- activity themselves. With no indexed column written, an advance is a HOT update when
-- its page has room; the fill factor keeps room on each page for the next version.
DROP INDEX walkthrough_progress_user;
ALTER TABLE walkthrough_progress SET (fillfactor = 70);
