DROP TABLE consultation_facts;
