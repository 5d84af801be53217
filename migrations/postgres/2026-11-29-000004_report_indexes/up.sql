-- Reports over every centre read a period of consultations by time alone.
CREATE INDEX consultations_occurred_at_idx ON consultations (occurred_at);
-- Whether a person is new: their first consultation ever, one index lookup per consultation.
CREATE INDEX consultations_migrant_first_idx ON consultations (migrant_id, occurred_at);
