ALTER TABLE migrants DROP COLUMN first_consulted_at;
