ALTER TABLE audit_event_subjects
    ADD CONSTRAINT audit_event_subjects_event_id_fkey FOREIGN KEY (event_id) REFERENCES audit_events (id);
