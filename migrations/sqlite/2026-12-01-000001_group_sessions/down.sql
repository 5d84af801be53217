DROP TABLE group_session_tallies;
DROP TABLE group_session_attendees;
DROP TABLE group_session_facilitators;
DROP TABLE group_session_topics;
DROP TABLE group_sessions;
