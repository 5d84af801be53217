//! Table definitions shared by both backends. Only portable SQL types appear here: ids are
//! `Text`, timestamps `Timestamp` (UTC), flags `Bool`, enums `Text` with CHECK constraints.

diesel::table! {
    centres (id) {
        id -> Text,
        name -> Text,
        city -> Text,
        country -> Text,
        active -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        username_key -> Text,
        full_name -> Text,
        email -> Nullable<Text>,
        role -> Text,
        centre_id -> Nullable<Text>,
        active -> Bool,
        must_change_password -> Bool,
        password_hash -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_throttle (throttle_key) {
        throttle_key -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        throttled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        actor_username -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Text>,
        centre_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        changed_fields -> Text,
        endpoint -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    audit_event_subjects (migrant_id, event_id) {
        event_id -> Text,
        migrant_id -> Text,
    }
}

diesel::table! {
    idempotency_keys (user_id, idempotency_key) {
        user_id -> Text,
        idempotency_key -> Text,
        request_fingerprint -> Text,
        response_status -> Integer,
        created_at -> Timestamp,
        content_location -> Nullable<Text>,
    }
}

diesel::table! {
    migrants (id) {
        id -> Text,
        centre_id -> Text,
        registered_by -> Text,
        given_name -> Text,
        family_name -> Text,
        patronymic -> Nullable<Text>,
        sex -> Text,
        date_of_birth -> Nullable<Date>,
        birth_year -> Nullable<Integer>,
        nationality -> Text,
        region_of_origin -> Nullable<Text>,
        phone -> Nullable<Text>,
        preferred_language -> Nullable<Text>,
        migration_status -> Text,
        destination_country -> Nullable<Text>,
        consent_services_given_at -> Nullable<Timestamp>,
        consent_services_withdrawn_at -> Nullable<Timestamp>,
        consent_referral_sharing_given_at -> Nullable<Timestamp>,
        consent_referral_sharing_withdrawn_at -> Nullable<Timestamp>,
        consent_statistics_given_at -> Nullable<Timestamp>,
        consent_statistics_withdrawn_at -> Nullable<Timestamp>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        anonymised_at -> Nullable<Timestamp>,
        anonymised_by -> Nullable<Text>,
        first_consulted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    migrant_name_tokens (migrant_id, token) {
        migrant_id -> Text,
        token -> Text,
    }
}

diesel::table! {
    migrant_vulnerabilities (migrant_id, flag) {
        migrant_id -> Text,
        flag -> Text,
    }
}

diesel::table! {
    migrant_consent_events (id) {
        id -> Text,
        migrant_id -> Text,
        scope -> Text,
        given -> Bool,
        at -> Timestamp,
        recorded_by -> Text,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        migrant_id -> Text,
        centre_id -> Text,
        assigned_to -> Text,
        opened_by -> Text,
        status -> Text,
        priority -> Text,
        summary -> Text,
        opened_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        closure_reason -> Nullable<Text>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_events (id) {
        id -> Text,
        case_id -> Text,
        at -> Timestamp,
        actor_id -> Text,
        kind -> Text,
        assigned_to -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    consultations (id) {
        id -> Text,
        centre_id -> Text,
        counsellor_id -> Text,
        migrant_id -> Nullable<Text>,
        case_id -> Nullable<Text>,
        anonymous_sex -> Nullable<Text>,
        anonymous_age_band -> Nullable<Text>,
        anonymous_nationality -> Nullable<Text>,
        anonymous_migration_status -> Nullable<Text>,
        occurred_at -> Timestamp,
        channel -> Text,
        duration_minutes -> Integer,
        language -> Text,
        notes -> Text,
        outcome -> Nullable<Text>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    consultation_topics (consultation_id, topic) {
        consultation_id -> Text,
        topic -> Text,
    }
}

diesel::table! {
    service_providers (id) {
        id -> Text,
        centre_id -> Nullable<Text>,
        name -> Text,
        name_key -> Text,
        kind -> Text,
        description -> Nullable<Text>,
        address -> Nullable<Text>,
        city -> Nullable<Text>,
        country -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        website -> Nullable<Text>,
        opening_hours -> Nullable<Text>,
        accepts_referrals -> Bool,
        active -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    service_provider_languages (provider_id, language) {
        provider_id -> Text,
        language -> Text,
    }
}

diesel::table! {
    referrals (id) {
        id -> Text,
        case_id -> Text,
        centre_id -> Text,
        migrant_id -> Text,
        provider_id -> Text,
        created_by -> Text,
        reason -> Text,
        urgency -> Text,
        status -> Text,
        expected_response_by -> Nullable<Date>,
        consent_given_at -> Timestamp,
        consent_snapshot -> Text,
        outcome -> Nullable<Text>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    referral_transitions (id) {
        id -> Text,
        referral_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        at -> Timestamp,
        actor_id -> Text,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    follow_ups (id) {
        id -> Text,
        case_id -> Text,
        centre_id -> Text,
        assigned_to -> Text,
        created_by -> Text,
        due_at -> Timestamp,
        kind -> Text,
        note -> Nullable<Text>,
        status -> Text,
        outcome -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_sessions (id) {
        id -> Text,
        centre_id -> Text,
        created_by -> Text,
        kind -> Text,
        title -> Text,
        starts_at -> Timestamp,
        duration_minutes -> Integer,
        city -> Nullable<Text>,
        district -> Nullable<Text>,
        venue -> Nullable<Text>,
        language -> Text,
        partner_provider_id -> Nullable<Text>,
        notes -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_session_topics (session_id, topic) {
        session_id -> Text,
        topic -> Text,
    }
}

diesel::table! {
    group_session_facilitators (session_id, user_id) {
        session_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    group_session_attendees (session_id, migrant_id) {
        session_id -> Text,
        migrant_id -> Text,
        added_by -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    group_session_tallies (id) {
        id -> Text,
        session_id -> Text,
        sex -> Text,
        age_band -> Nullable<Text>,
        migration_status -> Text,
        count -> Integer,
    }
}

diesel::joinable!(users -> centres (centre_id));
diesel::joinable!(service_provider_languages -> service_providers (provider_id));
diesel::joinable!(referrals -> cases (case_id));
diesel::joinable!(referrals -> service_providers (provider_id));
diesel::joinable!(referral_transitions -> referrals (referral_id));
diesel::joinable!(follow_ups -> cases (case_id));
diesel::joinable!(migrant_name_tokens -> migrants (migrant_id));
diesel::joinable!(migrant_vulnerabilities -> migrants (migrant_id));
diesel::joinable!(migrant_consent_events -> migrants (migrant_id));
diesel::joinable!(cases -> migrants (migrant_id));
diesel::joinable!(case_events -> cases (case_id));
diesel::joinable!(consultation_topics -> consultations (consultation_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(audit_event_subjects -> audit_events (event_id));
diesel::joinable!(group_session_topics -> group_sessions (session_id));
diesel::joinable!(group_session_facilitators -> group_sessions (session_id));
diesel::joinable!(group_session_attendees -> group_sessions (session_id));
diesel::joinable!(group_session_attendees -> migrants (migrant_id));
diesel::joinable!(group_session_tallies -> group_sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    centres,
    users,
    sessions,
    refresh_tokens,
    login_throttle,
    audit_events,
    audit_event_subjects,
    idempotency_keys,
    migrants,
    migrant_name_tokens,
    migrant_vulnerabilities,
    migrant_consent_events,
    cases,
    case_events,
    consultations,
    consultation_topics,
    service_providers,
    service_provider_languages,
    referrals,
    referral_transitions,
    follow_ups,
    group_sessions,
    group_session_topics,
    group_session_facilitators,
    group_session_attendees,
    group_session_tallies,
);
