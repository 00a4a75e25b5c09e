-- The audit log records every mutating action (issue 30): who acted by name, and the object
-- the event is about by type, id and name (kept, since the object may be deleted).
ALTER TABLE audit_events ADD COLUMN actor_name TEXT;
ALTER TABLE audit_events ADD COLUMN object_type TEXT;
ALTER TABLE audit_events ADD COLUMN object_id TEXT;
ALTER TABLE audit_events ADD COLUMN object_name TEXT;
CREATE INDEX audit_events_actor ON audit_events(org_id, actor, created_at);
CREATE INDEX audit_events_object ON audit_events(org_id, object_id, created_at);
-- The overview counts open support requests and failed webhook deliveries per organization.
CREATE INDEX support_requests_org_status ON support_requests(org_id, status);
CREATE INDEX webhook_deliveries_org_status ON webhook_deliveries(org_id, status, created_at);
