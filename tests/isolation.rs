//! Workspaces are isolated: a caller sees and touches only workspaces where they hold a role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_of_one_workspace_cannot_reach_another_through_any_query_or_mutation() {
    // Arrange: two workspaces, Ann owns only A.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app
        .create_workspace(&admin, "Alpha", "alpha", "PRODUCTION")
        .await;
    let b = app
        .create_workspace(&admin, "Bravo", "bravo", "STAGING")
        .await;
    let tenant_a = app.create_tenant(&admin, &a, "Alpha HQ", &guid()).await;
    let tenant_b = app.create_tenant(&admin, &b, "Bravo HQ", &guid()).await;
    app.grant(&admin, &a, "ann@alpha.test", "OWNER").await;
    let ann = app.token("ann@alpha.test");
    let b_event = app
        .gql_ok(&admin, "query($id: ID!) { workspace(id: $id) { auditEvents(first: 1) { edges { node { id } } } } }", json!({"id": b}))
        .await["workspace"]["auditEvents"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Act + assert: queries.
    let data = app
        .gql_ok(
            &ann,
            "{ workspaces { totalCount edges { node { slug } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["workspaces"]["totalCount"], 1);
    assert_eq!(data["workspaces"]["edges"][0]["node"]["slug"], "alpha");

    for id in [&b, &tenant_b, &b_event] {
        let data = app
            .gql_ok(
                &ann,
                "query($id: ID!) { node(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert!(data["node"].is_null(), "node({id}) must be null for Ann");
    }
    for id in [&a, &tenant_a] {
        let data = app
            .gql_ok(
                &ann,
                "query($id: ID!) { node(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(data["node"]["id"], json!(id));
    }
    let data = app
        .gql_ok(&ann, "{ workspace(slug: \"bravo\") { id } }", json!({}))
        .await;
    assert!(data["workspace"].is_null());
    let data = app
        .gql_ok(
            &ann,
            "query($id: ID!) { workspace(id: $id) { id } }",
            json!({"id": b}),
        )
        .await;
    assert!(data["workspace"].is_null());
    let data = app
        .gql_ok(
            &ann,
            "query($id: ID!) { tenant(id: $id) { id } }",
            json!({"id": tenant_b}),
        )
        .await;
    assert!(data["tenant"].is_null());
    let data = app
        .gql_ok(
            &ann,
            "{ workspaces(search: \"bravo\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["workspaces"]["totalCount"], 0);

    // Mutations on B: NOT_FOUND, never FORBIDDEN.
    for (query, vars) in [
        ("mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { id } } }", json!({"i": {"workspaceId": b, "name": "pwned"}})),
        ("mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }", json!({"i": {"workspaceId": b, "displayName": "x", "entraTenantId": guid()}})),
        ("mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id } } }", json!({"i": {"tenantId": tenant_b, "displayName": "pwned"}})),
        ("mutation($i: GrantRoleInput!) { grantRole(input: $i) { role } }", json!({"i": {"workspaceId": b, "userId": "ann@alpha.test", "role": "OWNER"}})),
        ("mutation($i: RevokeRoleInput!) { revokeRole(input: $i) { role } }", json!({"i": {"workspaceId": b, "userId": "admin@platform.test", "role": "OWNER"}})),
        ("mutation($i: PinWorkspaceInput!) { pinWorkspace(input: $i) { workspace { id } } }", json!({"i": {"workspaceId": b}})),
        ("mutation($i: FavoriteWorkspaceInput!) { favoriteWorkspace(input: $i) { workspace { id } } }", json!({"i": {"workspaceId": b}})),
    ] {
        let resp = app.gql(Some(&ann), query, vars).await;
        assert_eq!(error_code(&resp), "NOT_FOUND", "{query}: {resp}");
    }

    // Nothing in B changed.
    let data = app
        .gql_ok(&admin, "query($id: ID!) { workspace(id: $id) { name tenants { edges { node { displayName } } } } }", json!({"id": b}))
        .await;
    assert_eq!(data["workspace"]["name"], "Bravo");
    assert_eq!(
        data["workspace"]["tenants"]["edges"][0]["node"]["displayName"],
        "Bravo HQ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_roles_see_every_workspace_and_unknown_ids_are_null() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_workspace(&admin, "Alpha", "alpha", "PRODUCTION")
        .await;
    app.create_workspace(&admin, "Bravo", "bravo", "STAGING")
        .await;
    app.db_grant(
        "ops@platform.test",
        tenantatlas::domain::roles::Role::PlatformOperator,
        None,
    )
    .await;
    let ops = app.token("ops@platform.test");

    let data = app
        .gql_ok(
            &ops,
            "{ workspaces { totalCount } viewer { roles { role isPlatform workspace { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["workspaces"]["totalCount"], 2);
    assert_eq!(
        data["viewer"]["roles"],
        json!([{"role": "PLATFORM_OPERATOR", "isPlatform": true, "workspace": null}])
    );

    for garbage in ["", "bm9wZQ", "V29ya3NwYWNlOm5vdC1hLXV1aWQ"] {
        let data = app
            .gql_ok(
                &ops,
                "query($id: ID!) { node(id: $id) { id } }",
                json!({"id": garbage}),
            )
            .await;
        assert!(data["node"].is_null());
    }
}
