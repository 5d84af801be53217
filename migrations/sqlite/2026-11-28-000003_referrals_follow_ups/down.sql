DROP TABLE follow_ups;
DROP TABLE referral_transitions;
DROP TABLE referrals;
DROP TABLE service_provider_languages;
DROP TABLE service_providers;
