DROP INDEX idempotency_keys_user_created_idx;
DROP INDEX service_providers_city_idx;
DROP INDEX users_role_idx;
DROP INDEX migrants_centre_status_idx;
DROP INDEX migrants_centre_nationality_idx;
DROP INDEX consultations_centre_channel_idx;
DROP INDEX cases_centre_priority_idx;
DROP INDEX cases_centre_status_idx;
