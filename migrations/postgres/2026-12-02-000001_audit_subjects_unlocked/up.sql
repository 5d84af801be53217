-- A foreign key check takes a row lock (FOR KEY SHARE) on the parent for every child row: a page
-- of 50 people locked its audit event 50 times, which made writing the subjects of a list cost
-- more than the rows themselves. Subjects are written only together with their event, in the
-- same statement sequence and transaction (src/audit/event.rs), and both tables are append-only
-- by trigger, so the key guarded nothing that can happen. SQLite keeps it: its check is a plain
-- index probe, and removing it would rebuild the table.
ALTER TABLE audit_event_subjects DROP CONSTRAINT IF EXISTS audit_event_subjects_event_id_fkey;
