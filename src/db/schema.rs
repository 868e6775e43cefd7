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
    }
}

diesel::joinable!(audit_events -> workspaces (workspace_id));
diesel::joinable!(tenants -> workspaces (workspace_id));
diesel::joinable!(workspace_user_preferences -> users (user_id));
diesel::joinable!(workspace_user_preferences -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_chain_heads,
    audit_events,
    casbin_rule,
    server_settings,
    tenants,
    users,
    workspace_user_preferences,
    workspaces,
);
