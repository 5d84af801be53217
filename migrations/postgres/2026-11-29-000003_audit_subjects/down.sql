ALTER TABLE audit_events DROP COLUMN endpoint;

-- Back to one subject per event: only events that name exactly one person can keep theirs.
ALTER TABLE audit_events ADD COLUMN subject_id TEXT;
ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
UPDATE audit_events SET subject_id = (
    SELECT MIN(s.migrant_id) FROM audit_event_subjects s WHERE s.event_id = audit_events.id
    HAVING COUNT(*) = 1
);
ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);

DROP TRIGGER audit_event_subjects_no_truncate ON audit_event_subjects;
DROP TRIGGER audit_event_subjects_no_update_or_delete ON audit_event_subjects;
DROP TABLE audit_event_subjects;
DROP FUNCTION audit_event_subjects_append_only();
