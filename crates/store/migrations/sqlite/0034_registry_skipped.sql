-- Entries the last sync of a registry skipped (unreadable, or new past the cap of entries
-- per registry): a bad entry is skipped and recorded, never fatal to the sync.
ALTER TABLE registry_syncs ADD COLUMN last_skipped INTEGER NOT NULL DEFAULT 0;
