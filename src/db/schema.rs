// @generated automatically by Diesel CLI.

diesel::table! {
    audit_chain_heads (chain) {
        chain -> Text,
        seq -> Int8,
        hash -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        chain -> Text,
        seq -> Int8,
        workspace_id -> Nullable<Uuid>,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        occurred_at -> Timestamptz,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    baselines (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        name -> Text,
        description -> Text,
        source_tenant_id -> Nullable<Uuid>,
        current_version -> Int4,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    baseline_versions (baseline_id, version) {
        baseline_id -> Uuid,
        workspace_id -> Uuid,
        version -> Int4,
        item_count -> Int4,
        created_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    baseline_items (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        baseline_id -> Uuid,
        version -> Int4,
        lineage_id -> Uuid,
        contract_type -> Text,
        display_name -> Text,
        match_name -> Text,
        template_id -> Nullable<Text>,
        source_policy_id -> Nullable<Uuid>,
        source_version -> Nullable<Int4>,
        payload_hash -> Text,
        payload -> Text,
        setting_count -> Int4,
        settings_digest -> Text,
        severity_overrides -> Jsonb,
        ignored_paths -> Jsonb,
    }
}

diesel::table! {
    baseline_assignments (baseline_id, tenant_id) {
        baseline_id -> Uuid,
        tenant_id -> Uuid,
        workspace_id -> Uuid,
        assigned_by -> Text,
        assigned_at -> Timestamptz,
        last_evaluated_at -> Nullable<Timestamptz>,
        check_count -> Int4,
        check_weight -> Int8,
    }
}

diesel::table! {
    baseline_mappings (baseline_id, lineage_id, tenant_id) {
        baseline_id -> Uuid,
        lineage_id -> Uuid,
        tenant_id -> Uuid,
        workspace_id -> Uuid,
        policy_id -> Uuid,
        mapped_by -> Text,
        mapped_at -> Timestamptz,
    }
}

diesel::table! {
    findings (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        tenant_id -> Uuid,
        baseline_id -> Uuid,
        lineage_id -> Uuid,
        policy_id -> Nullable<Uuid>,
        fingerprint -> Text,
        kind -> Text,
        severity -> Text,
        severity_rank -> Int2,
        weight -> Int8,
        status -> Text,
        title -> Text,
        setting_path -> Nullable<Text>,
        expected_value -> Nullable<Jsonb>,
        actual_value -> Nullable<Jsonb>,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
        resolution -> Nullable<Text>,
        reopen_count -> Int4,
        assignee_user_id -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    finding_comments (id) {
        id -> Uuid,
        finding_id -> Uuid,
        workspace_id -> Uuid,
        author -> Text,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    finding_history (id) {
        id -> Uuid,
        finding_id -> Uuid,
        workspace_id -> Uuid,
        action -> Text,
        actor -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        comment -> Nullable<Text>,
        at -> Timestamptz,
    }
}

diesel::table! {
    compliance_snapshots (workspace_id, day) {
        workspace_id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        day -> Date,
        score -> Nullable<Int4>,
        total_weight -> Int8,
        drift_weight -> Int8,
        accepted_weight -> Int8,
        open_critical -> Int4,
        open_high -> Int4,
        open_medium -> Int4,
        open_low -> Int4,
        open_info -> Int4,
        accepted_count -> Int4,
        taken_at -> Timestamptz,
    }
}

diesel::table! {
    finding_exceptions (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        finding_id -> Uuid,
        tenant_id -> Uuid,
        scope -> Text,
        setting_path -> Nullable<Text>,
        accepted_value -> Nullable<Jsonb>,
        justification -> Text,
        compensating_controls -> Text,
        ticket_reference -> Nullable<Text>,
        requested_by -> Uuid,
        requested_at -> Timestamptz,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        decision_comment -> Nullable<Text>,
        status -> Text,
        expires_at -> Timestamptz,
        renewal_of -> Nullable<Uuid>,
        superseded_at -> Nullable<Timestamptz>,
        expiry_notice_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    exception_history (id) {
        id -> Uuid,
        exception_id -> Uuid,
        workspace_id -> Uuid,
        action -> Text,
        actor -> Text,
        comment -> Nullable<Text>,
        at -> Timestamptz,
    }
}

diesel::table! {
    casbin_rule (id) {
        id -> Int4,
        #[max_length = 12]
        ptype -> Varchar,
        #[max_length = 320]
        v0 -> Varchar,
        #[max_length = 320]
        v1 -> Varchar,
        #[max_length = 320]
        v2 -> Varchar,
        #[max_length = 320]
        v3 -> Varchar,
        #[max_length = 320]
        v4 -> Varchar,
        #[max_length = 320]
        v5 -> Varchar,
    }
}

diesel::table! {
    operation_runs (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        kind -> Text,
        status -> Text,
        params -> Jsonb,
        processed -> Int4,
        total -> Nullable<Int4>,
        message -> Nullable<Text>,
        warnings -> Jsonb,
        attempt -> Int4,
        max_attempts -> Int4,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        cancel_requested -> Bool,
        created_count -> Int4,
        updated_count -> Int4,
        unchanged_count -> Int4,
        deleted_count -> Int4,
        restored_count -> Int4,
        error -> Nullable<Text>,
        initiated_by -> Text,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    policies (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        tenant_id -> Uuid,
        contract_type -> Text,
        external_id -> Text,
        display_name -> Text,
        platform -> Text,
        odata_type -> Nullable<Text>,
        payload_hash -> Text,
        assignments -> Jsonb,
        lifecycle_state -> Text,
        version_count -> Int4,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        restored_at -> Nullable<Timestamptz>,
        source_folder -> Nullable<Text>,
        setting_count -> Int4,
        secret_fields -> Jsonb,
        redaction_count -> Int4,
    }
}

diesel::table! {
    policy_versions (id) {
        id -> Uuid,
        policy_id -> Uuid,
        workspace_id -> Uuid,
        version -> Int4,
        payload_hash -> Text,
        payload -> Text,
        operation_run_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        secret_fields -> Jsonb,
        secret_changes -> Jsonb,
        settings_digest -> Nullable<Text>,
        template_id -> Nullable<Text>,
    }
}

diesel::table! {
    server_settings (key) {
        key -> Text,
        value -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        display_name -> Text,
        entra_tenant_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        connection_kind -> Nullable<Text>,
        export_path -> Nullable<Text>,
        last_synced_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    workspace_user_preferences (user_id, workspace_id) {
        user_id -> Uuid,
        workspace_id -> Uuid,
        pinned_at -> Nullable<Timestamptz>,
        favorited_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Uuid,
        name -> Text,
        slug -> Text,
        environment -> Text,
        created_at -> Timestamptz,
        last_activity_at -> Timestamptz,
        exception_max_days -> Int4,
    }
}

diesel::table! {
    evidence_signing_keys (id) {
        id -> Text,
        algorithm -> Text,
        public_key -> Text,
        created_at -> Timestamptz,
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    evidence_packs (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        title -> Text,
        tenant_ids -> Array<Uuid>,
        period_start -> Timestamptz,
        period_end -> Timestamptz,
        status -> Text,
        created_by -> Nullable<Uuid>,
        created_by_actor -> Text,
        created_at -> Timestamptz,
        built_at -> Nullable<Timestamptz>,
        operation_run_id -> Nullable<Uuid>,
        storage_key -> Nullable<Text>,
        size_bytes -> Nullable<Int8>,
        sha256 -> Nullable<Text>,
        manifest -> Nullable<Jsonb>,
        signing_key_id -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(audit_events -> workspaces (workspace_id));
diesel::joinable!(operation_runs -> tenants (tenant_id));
diesel::joinable!(operation_runs -> workspaces (workspace_id));
diesel::joinable!(policies -> tenants (tenant_id));
diesel::joinable!(policies -> workspaces (workspace_id));
diesel::joinable!(policy_versions -> policies (policy_id));
diesel::joinable!(policy_versions -> workspaces (workspace_id));
diesel::joinable!(tenants -> workspaces (workspace_id));
diesel::joinable!(workspace_user_preferences -> users (user_id));
diesel::joinable!(workspace_user_preferences -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_chain_heads,
    audit_events,
    baseline_assignments,
    baseline_items,
    baseline_mappings,
    baseline_versions,
    baselines,
    compliance_snapshots,
    evidence_packs,
    evidence_signing_keys,
    exception_history,
    finding_comments,
    finding_exceptions,
    finding_history,
    findings,
    casbin_rule,
    operation_runs,
    policies,
    policy_versions,
    server_settings,
    tenants,
    users,
    workspace_user_preferences,
    workspaces,
);
