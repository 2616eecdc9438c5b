//! Diesel's view of the tables in `migrations/` (kept in step with them by hand: diesel
//! CLI needs libpq, which this project does not link). A test in `db` checks that every
//! column here exists in the migrated database.

diesel::table! {
    subscriptions (id) {
        id -> Uuid,
        target_url -> Nullable<Text>,
        secret -> Text,
        events -> Nullable<Array<Text>>,
        description -> Nullable<Text>,
        headers -> Jsonb,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        tenant_id -> Nullable<Uuid>,
        name -> Nullable<Text>,
        http_method -> Text,
        timeout_ms -> Nullable<Int4>,
        retry_schedule -> Nullable<Array<Int8>>,
        rate_limit -> Nullable<Int4>,
        consecutive_failures -> Int4,
        last_success_at -> Nullable<Timestamptz>,
        last_failure_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        disabled_at -> Nullable<Timestamptz>,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamptz>,
        destination -> Nullable<Jsonb>,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        name -> Text,
        tenant_id -> Nullable<Uuid>,
        permissions -> Array<Text>,
        key_prefix -> Text,
        key_hash -> Bytea,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        event_type -> Nullable<Text>,
        subscription_id -> Nullable<Uuid>,
        payload -> Bytea,
        received_at -> Timestamptz,
        tenant_id -> Nullable<Uuid>,
        skip_subscription -> Nullable<Uuid>,
        no_subscribers -> Bool,
        envelope -> Nullable<Jsonb>,
    }
}

diesel::table! {
    deliveries (webhook_id, subscription_id) {
        webhook_id -> Uuid,
        subscription_id -> Uuid,
        target_url -> Text,
        status -> Text,
        attempts -> Int4,
        last_status_code -> Nullable<Int4>,
        error -> Nullable<Text>,
        next_retry_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        run_from -> Int4,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    attempts (id) {
        id -> Uuid,
        webhook_id -> Uuid,
        subscription_id -> Uuid,
        target_url -> Text,
        timestamp -> Timestamptz,
        attempt_number -> Int4,
        outcome -> Text,
        status_code -> Nullable<Int4>,
        error -> Nullable<Text>,
        duration_ms -> Int8,
        response_body -> Nullable<Text>,
        next_retry_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Uuid,
        idempotency_key -> Text,
        tenant_id -> Nullable<Uuid>,
        event_type -> Nullable<Text>,
        payload -> Bytea,
        skip_subscription -> Nullable<Uuid>,
        created_at -> Timestamptz,
        subscription_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    schedules (id) {
        id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        name -> Text,
        description -> Nullable<Text>,
        subscription_id -> Nullable<Uuid>,
        event_type -> Nullable<Text>,
        payload -> Jsonb,
        kind -> Text,
        run_at -> Nullable<Timestamptz>,
        cron -> Nullable<Text>,
        timezone -> Text,
        missed_runs -> Text,
        is_active -> Bool,
        next_run_at -> Nullable<Timestamptz>,
        last_run_at -> Nullable<Timestamptz>,
        last_webhook_id -> Nullable<Uuid>,
        run_count -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    schedule_runs (schedule_id, scheduled_for) {
        schedule_id -> Uuid,
        scheduled_for -> Timestamptz,
        webhook_id -> Uuid,
        started_at -> Timestamptz,
    }
}

diesel::table! {
    replays (id) {
        id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        every_tenant -> Bool,
        filter -> Jsonb,
        subscription_id -> Nullable<Uuid>,
        event_types -> Nullable<Array<Text>>,
        since -> Timestamptz,
        until -> Timestamptz,
        statuses -> Array<Text>,
        include_missing -> Bool,
        status -> Text,
        matched -> Int8,
        queued -> Int8,
        missing_stage -> Bool,
        cursor_received_at -> Nullable<Timestamptz>,
        cursor_webhook_id -> Nullable<Uuid>,
        cursor_subscription_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sources (id) {
        id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        name -> Text,
        token -> Text,
        verification -> Jsonb,
        ip_allowlist -> Nullable<Array<Text>>,
        rate_limit_requests -> Nullable<Int4>,
        rate_limit_per_seconds -> Nullable<Int4>,
        event_type -> Nullable<Jsonb>,
        subscription_id -> Nullable<Uuid>,
        forward_headers -> Array<Text>,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    source_rejections (id) {
        id -> Uuid,
        source_id -> Uuid,
        received_at -> Timestamptz,
        status -> Int4,
        reason -> Text,
        remote_addr -> Text,
    }
}

diesel::joinable!(deliveries -> webhooks (webhook_id));
diesel::joinable!(attempts -> webhooks (webhook_id));
diesel::joinable!(schedule_runs -> schedules (schedule_id));
diesel::joinable!(source_rejections -> sources (source_id));
diesel::allow_tables_to_appear_in_same_query!(
    subscriptions,
    webhooks,
    deliveries,
    attempts,
    tenants,
    api_keys,
    outbox,
    replays,
    schedules,
    schedule_runs,
    sources,
    source_rejections
);
