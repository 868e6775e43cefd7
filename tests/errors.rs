//! Every error code, and that rejected input changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

async fn counts(app: &TestApp) -> (i64, i64, i64) {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct C {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        w: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        t: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        a: i64,
    }
    let mut conn = app.db.connect().await;
    let c: C = diesel::sql_query(
        "SELECT (SELECT count(*) FROM workspaces) AS w, (SELECT count(*) FROM tenants) AS t, (SELECT count(*) FROM audit_events) AS a",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    (c.w, c.t, c.a)
}

const CREATE_WS: &str =
    "mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { workspace { id } } }";
const CREATE_TENANT: &str =
    "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_expired_and_foreign_tokens_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let expired = app
        .ctx
        .tokens
        .sign("ann@contoso.test", now - 7200, now - 3600)
        .unwrap();
    let foreign = tenantatlas::auth::jwt::TokenService::new("someone-else", &Default::default())
        .unwrap()
        .issue("ann@contoso.test", std::time::Duration::from_secs(600))
        .unwrap();
    let query = "{ viewer { user { email } } }";

    for (label, token) in [
        ("missing", None),
        ("malformed", Some("not.a.jwt")),
        ("expired", Some(expired.as_str())),
        ("wrongly signed", Some(foreign.as_str())),
    ] {
        let resp = app.gql(token, query, json!({})).await;
        assert_eq!(error_code(&resp), "UNAUTHENTICATED", "{label}: {resp}");
    }
    // A non-Bearer scheme is refused too.
    let resp: serde_json::Value = app
        .http
        .post(app.url("/graphql"))
        .header("Authorization", "Basic YTpi")
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&resp), "UNAUTHENTICATED");
    // And a good token works.
    let data = app
        .gql_ok(&app.token("Ann@Contoso.test"), query, json!({}))
        .await;
    assert_eq!(data["viewer"]["user"]["email"], "ann@contoso.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_workspace_input_is_bad_user_input_naming_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = counts(&app).await;

    for (input, field) in [
        (
            json!({"name": "  ", "slug": "ok-slug", "environment": "TEST"}),
            "name",
        ),
        (
            json!({"name": "X", "slug": "Bad Slug", "environment": "TEST"}),
            "slug",
        ),
        (
            json!({"name": "X", "slug": "a", "environment": "TEST"}),
            "slug",
        ),
        (
            json!({"name": "X", "slug": "x".repeat(64), "environment": "TEST"}),
            "slug",
        ),
    ] {
        let resp = app.gql(Some(&admin), CREATE_WS, json!({"i": input})).await;
        assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{resp}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], field, "{resp}");
    }
    // An unknown enum value is rejected by validation, also with a code.
    let resp = app
        .gql(
            Some(&admin),
            CREATE_WS,
            json!({"i": {"name": "X", "slug": "xx", "environment": "MOON"}}),
        )
        .await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT");

    assert_eq!(
        counts(&app).await,
        before,
        "rejected input must change nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tenant_input_is_bad_user_input_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    let before = counts(&app).await;

    for (input, field) in [
        (
            json!({"workspaceId": ws, "displayName": "HQ", "entraTenantId": "contoso.onmicrosoft.com"}),
            "entraTenantId",
        ),
        (
            json!({"workspaceId": ws, "displayName": "", "entraTenantId": guid()}),
            "displayName",
        ),
        (
            json!({"workspaceId": "garbage", "displayName": "HQ", "entraTenantId": guid()}),
            "workspaceId",
        ),
    ] {
        let resp = app
            .gql(Some(&admin), CREATE_TENANT, json!({"i": input}))
            .await;
        assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{resp}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], field);
    }
    let resp = app
        .gql(
            Some(&admin),
            "{ workspaces(first: 101) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT");
    assert_eq!(resp["errors"][0]["extensions"]["field"], "first");

    assert_eq!(counts(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_conflicts_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    let entra = guid();
    app.create_tenant(&admin, &ws, "HQ", &entra).await;
    let before = counts(&app).await;

    let resp = app
        .gql(
            Some(&admin),
            CREATE_WS,
            json!({"i": {"name": "Other", "slug": "contoso", "environment": "TEST"}}),
        )
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    assert!(resp["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("slug"));

    let resp = app
        .gql(Some(&admin), CREATE_TENANT, json!({"i": {"workspaceId": ws, "displayName": "HQ again", "entraTenantId": entra.to_uppercase()}}))
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");

    // The same Entra tenant may live in another workspace.
    let other = app.create_workspace(&admin, "Other", "other", "TEST").await;
    app.create_tenant(&admin, &other, "HQ", &entra).await;

    let after = counts(&app).await;
    assert_eq!((after.0, after.1), (before.0 + 1, before.1 + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_and_not_found_are_distinguished_by_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    app.grant(&admin, &ws, "reader@contoso.test", "READONLY")
        .await;
    let reader = app.token("reader@contoso.test");
    let input = json!({"i": {"workspaceId": ws, "displayName": "HQ", "entraTenantId": guid()}});

    let resp = app.gql(Some(&reader), CREATE_TENANT, input.clone()).await;
    assert_eq!(error_code(&resp), "FORBIDDEN");
    assert!(resp["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("tenant.create"));

    let resp = app
        .gql(Some(&app.token("nobody@else.test")), CREATE_TENANT, input)
        .await;
    assert_eq!(error_code(&resp), "NOT_FOUND");

    // A well-formed id of a workspace that does not exist: NOT_FOUND even for an admin.
    let ghost = tenantatlas::api::node::to_global_id(
        tenantatlas::api::node::NodeType::Workspace,
        uuid::Uuid::new_v4(),
    );
    let resp = app
        .gql(Some(&admin), "mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { id } } }", json!({"i": {"workspaceId": ghost.0, "name": "x"}}))
        .await;
    assert_eq!(error_code(&resp), "NOT_FOUND");
    // Only platform admins create workspaces: FORBIDDEN for an owner.
    app.grant(&admin, &ws, "owner@contoso.test", "OWNER").await;
    let resp = app
        .gql(
            Some(&app.token("owner@contoso.test")),
            CREATE_WS,
            json!({"i": {"name": "X", "slug": "xyz", "environment": "TEST"}}),
        )
        .await;
    assert_eq!(error_code(&resp), "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_owner_cannot_be_revoked_and_platform_roles_cannot_be_granted_per_workspace() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    app.grant(&admin, &ws, "owner@contoso.test", "OWNER").await;
    let owner = app.token("owner@contoso.test");
    let revoke = "mutation($i: RevokeRoleInput!) { revokeRole(input: $i) { role } }";

    let resp = app
        .gql(
            Some(&owner),
            revoke,
            json!({"i": {"workspaceId": ws, "userId": "owner@contoso.test", "role": "OWNER"}}),
        )
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");

    let resp = app
        .gql(
            Some(&owner),
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { role } }",
            json!({"i": {"workspaceId": ws, "userId": "x@contoso.test", "role": "PLATFORM_ADMIN"}}),
        )
        .await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT");
    assert_eq!(resp["errors"][0]["extensions"]["field"], "role");

    let resp = app
        .gql(
            Some(&owner),
            revoke,
            json!({"i": {"workspaceId": ws, "userId": "never@granted.test", "role": "AUDITOR"}}),
        )
        .await;
    assert_eq!(error_code(&resp), "NOT_FOUND");

    // With a second owner, the first can go, and loses access at once.
    app.grant(&owner, &ws, "second@contoso.test", "OWNER").await;
    app.gql_ok(
        &owner,
        revoke,
        json!({"i": {"workspaceId": ws, "userId": "owner@contoso.test", "role": "OWNER"}}),
    )
    .await;
    let data = app
        .gql_ok(
            &owner,
            "query($id: ID!) { workspace(id: $id) { id } }",
            json!({"id": ws}),
        )
        .await;
    assert!(data["workspace"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_deep_queries_are_rejected() {
    let app = TestApp::spawn().await;
    let token = app.token("ann@contoso.test");
    let mut q = String::from("{ workspaces(first: 1) { edges { node { tenants(first: 1) { edges { node { workspace { tenants(first: 1) { edges { node { workspace { tenants(first: 1) { edges { node { workspace { tenants(first: 1) { totalCount } } } } } } } } } } } } } } } } }");
    let resp = app.gql(Some(&token), &q, json!({})).await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{resp}");
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested"),
        "{resp}"
    );
    q.clear();
}
