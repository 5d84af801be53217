-- When each registered person was first consulted: reports tell new people from returning ones
-- with it, without looking up every person's history. Kept by the consultation writes.
ALTER TABLE migrants ADD COLUMN first_consulted_at TIMESTAMP;
UPDATE migrants SET first_consulted_at =
    (SELECT MIN(c.occurred_at) FROM consultations c WHERE c.migrant_id = migrants.id);
