-- What the consultations report counts, one narrow row per consultation: the consultation's
-- own dimensions beside copies of its person's statistical attributes (as the person's record
-- holds them now), its topics as a bit set and whether the person consents to statistics.
-- A year of reports then reads one table, in time order, without joining a million
-- consultations with their people. Kept by every write to a consultation or a person
-- (src/reports/facts.rs); this fills it for the records already stored. Ids are stored as
-- uuid (every id Karvon makes is a UUIDv7): the rows are half as wide as with text ids, and a
-- year of reports reads (and hashes) that much less. No foreign keys: PostgreSQL cannot point a
-- uuid at a text id (and nothing is ever deleted from consultations).
CREATE TABLE consultation_facts (
    consultation_id UUID NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    centre_id UUID NOT NULL,
    counsellor_id UUID NOT NULL,
    channel TEXT NOT NULL,
    migrant_id UUID,
    sex TEXT,
    nationality TEXT,
    migration_status TEXT,
    destination_country TEXT,
    age_band TEXT,
    -- Bit i: the i-th topic in the order of consultations::model::Topic.
    topics INTEGER NOT NULL,
    -- 0 when the registered person has not (or no longer) given consent to statistics.
    counted INTEGER NOT NULL,
    first_consulted_at TIMESTAMP,
    -- The person's consultation before this one (NULL for their first, and when anonymous),
    -- and (1) whether their age band changed since: with them a report tells a person's first
    -- consultation in a month, week or period from the rows alone, without grouping by person.
    previous_at TIMESTAMP,
    band_changed INTEGER NOT NULL,
    PRIMARY KEY (occurred_at, consultation_id)
);
CREATE UNIQUE INDEX consultation_facts_consultation_idx ON consultation_facts (consultation_id);
CREATE INDEX consultation_facts_centre_idx ON consultation_facts (centre_id, occurred_at);
-- Finds a person's facts when their record changes.
CREATE INDEX consultation_facts_person_idx ON consultation_facts (migrant_id);

INSERT INTO consultation_facts (consultation_id, occurred_at, centre_id, counsellor_id, channel,
    migrant_id, sex, nationality, migration_status, destination_country, age_band, topics,
    counted, first_consulted_at, previous_at, band_changed)
SELECT CAST(id AS UUID), occurred_at, CAST(centre_id AS UUID), CAST(counsellor_id AS UUID),
    channel, CAST(migrant_id AS UUID), sex, nationality,
    migration_status, destination_country, age_band, topics, counted, first_consulted_at,
    CASE WHEN migrant_id IS NULL THEN NULL ELSE LAG(occurred_at) OVER person END,
    CASE WHEN migrant_id IS NOT NULL AND LAG(occurred_at) OVER person IS NOT NULL
        AND LAG(age_band) OVER person IS DISTINCT FROM age_band THEN 1 ELSE 0 END
FROM (SELECT id, occurred_at, centre_id, counsellor_id, channel, migrant_id, sex, nationality,
    migration_status, destination_country,
    CASE WHEN migrant_id IS NULL THEN anonymous_age_band WHEN age IS NULL THEN NULL
        WHEN age < 18 THEN '0-17' WHEN age < 25 THEN '18-24' WHEN age < 35 THEN '25-34'
        WHEN age < 50 THEN '35-49' ELSE '50+' END AS age_band,
    topics, counted, first_consulted_at
FROM (SELECT c.id, c.occurred_at, c.centre_id, c.counsellor_id, c.channel, c.migrant_id,
        c.anonymous_age_band,
        COALESCE(m.sex, c.anonymous_sex) AS sex,
        COALESCE(m.nationality, c.anonymous_nationality) AS nationality,
        COALESCE(m.migration_status, c.anonymous_migration_status) AS migration_status,
        m.destination_country,
        CASE WHEN m.date_of_birth IS NOT NULL THEN (CAST(EXTRACT(YEAR FROM c.occurred_at) * 10000 + EXTRACT(MONTH FROM c.occurred_at) * 100 + EXTRACT(DAY FROM c.occurred_at) AS INTEGER) - CAST(EXTRACT(YEAR FROM m.date_of_birth) * 10000 + EXTRACT(MONTH FROM m.date_of_birth) * 100 + EXTRACT(DAY FROM m.date_of_birth) AS INTEGER)) / 10000
            ELSE CAST(EXTRACT(YEAR FROM c.occurred_at) * 10000 + EXTRACT(MONTH FROM c.occurred_at) * 100 + EXTRACT(DAY FROM c.occurred_at) AS INTEGER) / 10000 - m.birth_year END AS age,
        (SELECT COALESCE(SUM(CASE t.topic WHEN 'pre_departure' THEN 1
            WHEN 'employment_abroad' THEN 2 WHEN 'labour_rights' THEN 4
            WHEN 'legal_documents' THEN 8 WHEN 'remittances' THEN 16 WHEN 'health' THEN 32
            WHEN 'education' THEN 64 WHEN 'return_reintegration' THEN 128
            WHEN 'trafficking_risk' THEN 256 WHEN 'family' THEN 512 WHEN 'other' THEN 1024
            END), 0) FROM consultation_topics t WHERE t.consultation_id = c.id) AS topics,
        CASE WHEN m.id IS NOT NULL AND NOT (m.consent_statistics_given_at IS NOT NULL
            AND m.consent_statistics_withdrawn_at IS NULL) THEN 0 ELSE 1 END AS counted,
        m.first_consulted_at
    FROM consultations c LEFT JOIN migrants m ON m.id = c.migrant_id) AS person_facts) AS banded
WINDOW person AS (PARTITION BY migrant_id ORDER BY occurred_at, id);
