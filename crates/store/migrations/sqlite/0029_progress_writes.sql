-- Every advance of a walkthrough writes its progress row, and every write changes
-- `last_activity_at`, a column of `walkthrough_progress_user`: each step moved an entry of
-- that index as well as the row (issue 34, the walkthrough mix). The unique key
-- (end_user_id, server_id, walkthrough_id) already leads with the same two columns, so it
-- serves the lookups by end user (and server), which sort an end user's few rows by
-- activity themselves.
DROP INDEX walkthrough_progress_user;
