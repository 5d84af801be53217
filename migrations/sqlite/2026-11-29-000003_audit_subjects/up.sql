-- Every person a response shows is a subject of its audit event: a list read names each person
-- on the page, so an event has any number of subjects. The primary key leads with the migrant,
-- so a person's access log is an index range scan. WITHOUT ROWID: the rows are stored in that
-- key's order, with no extra copy of the key in a separate index.
CREATE TABLE audit_event_subjects (
    event_id TEXT NOT NULL REFERENCES audit_events (id),
    migrant_id TEXT NOT NULL,
    PRIMARY KEY (migrant_id, event_id)
) WITHOUT ROWID;
-- The subjects of a page of audit events.
CREATE INDEX audit_event_subjects_event_idx ON audit_event_subjects (event_id, migrant_id);

INSERT INTO audit_event_subjects (event_id, migrant_id)
    SELECT id, subject_id FROM audit_events WHERE subject_id IS NOT NULL;

-- One place for subjects: the single-subject column goes.
DROP INDEX audit_events_subject_idx;
ALTER TABLE audit_events DROP COLUMN subject_id;

-- The endpoint that produced the event (method and route pattern, e.g. `GET /api/v1/cases`),
-- so an access log says whether the person was read alone or in a list. Null for events not
-- made by an HTTP request (command line, start-up) and for those recorded before this column.
ALTER TABLE audit_events ADD COLUMN endpoint TEXT;

CREATE TRIGGER audit_event_subjects_no_update
    BEFORE UPDATE ON audit_event_subjects
    BEGIN SELECT RAISE(ABORT, 'audit_event_subjects is append-only'); END;

CREATE TRIGGER audit_event_subjects_no_delete
    BEFORE DELETE ON audit_event_subjects
    BEGIN SELECT RAISE(ABORT, 'audit_event_subjects is append-only'); END;
