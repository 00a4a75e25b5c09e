-- Gateway security (issue 10): an approved definition is kept whole, so that a changed
-- one can be reviewed as a diff against what was approved.
ALTER TABLE approved_definitions ADD COLUMN definition TEXT;
