ALTER TABLE audit_events DROP COLUMN endpoint;

-- Back to one subject per event: only events that name exactly one person can keep theirs.
ALTER TABLE audit_events ADD COLUMN subject_id TEXT;
DROP TRIGGER audit_events_no_update;
UPDATE audit_events SET subject_id = (
    SELECT MIN(s.migrant_id) FROM audit_event_subjects s WHERE s.event_id = audit_events.id
    HAVING COUNT(*) = 1
);
CREATE TRIGGER audit_events_no_update
    BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);

DROP TRIGGER audit_event_subjects_no_delete;
DROP TRIGGER audit_event_subjects_no_update;
DROP TABLE audit_event_subjects;
