//! Subscriptions over a real WebSocket, both protocols, across processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

const SUB: &str = "subscription($ws: ID!) { auditEventAppended(workspaceId: $ws) { action targetType actor sequence } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_transport_ws_delivers_new_audit_events() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Live", "live", "PRODUCTION")
        .await;
    app.grant(&admin, &ws, "aud@live.test", "AUDITOR").await;

    let mut client =
        WsClient::connect_with_token(&app, "graphql-transport-ws", &app.token("aud@live.test"))
            .await;
    client.subscribe("1", SUB, json!({"ws": ws})).await;
    app.wait_for_subscribers(1).await;

    app.create_tenant(&admin, &ws, "HQ", &guid()).await;
    let payload = client.next_data().await;
    assert_eq!(
        payload["data"]["auditEventAppended"]["action"], "tenant.create",
        "{payload}"
    );
    assert_eq!(payload["data"]["auditEventAppended"]["sequence"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Live", "live", "PRODUCTION")
        .await;
    let mut client = WsClient::connect_with_token(&app, "graphql-ws", &admin).await;
    client.subscribe("a", SUB, json!({"ws": ws})).await;
    app.wait_for_subscribers(1).await;
    app.create_tenant(&admin, &ws, "HQ", &guid()).await;
    let payload = client.next_data().await;
    assert_eq!(
        payload["data"]["auditEventAppended"]["action"], "tenant.create",
        "{payload}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_by_another_server_process_reaches_the_subscriber() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Live", "live", "PRODUCTION")
        .await;
    let mut client = WsClient::connect_with_token(&app, "graphql-transport-ws", &admin).await;
    client.subscribe("1", SUB, json!({"ws": ws})).await;
    app.wait_for_subscribers(1).await;

    // A second process on the same database writes; only NOTIFY connects the two.
    let (_other, other_ctx) = app.spawn_sibling().await;
    let access = tenantatlas::authz::Access::new(
        tenantatlas::auth::Principal::user("admin@platform.test"),
        other_ctx.authz.clone(),
    );
    tenantatlas::service::tenants::create_tenant(
        &other_ctx,
        &access,
        workspace_uuid(&ws),
        "Remote",
        &guid(),
    )
    .await
    .unwrap();
    let payload = client.next_data().await;
    assert_eq!(
        payload["data"]["auditEventAppended"]["action"],
        "tenant.create"
    );
    assert_eq!(
        payload["data"]["auditEventAppended"]["actor"],
        "user:admin@platform.test"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_needs_a_token_and_audit_read_and_hides_foreign_workspaces() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Live", "live", "PRODUCTION")
        .await;
    app.grant(&admin, &ws, "ro@live.test", "READONLY").await;

    for (token, code) in [
        (None, "UNAUTHENTICATED"),
        (Some("garbage".to_string()), "UNAUTHENTICATED"),
        (Some(app.token("ro@live.test")), "FORBIDDEN"),
        (Some(app.token("stranger@else.test")), "NOT_FOUND"),
    ] {
        let payload = match &token {
            Some(t) => json!({"Authorization": format!("Bearer {t}")}),
            None => json!({}),
        };
        let (mut client, ack) = WsClient::connect(&app, "graphql-transport-ws", payload).await;
        assert_eq!(ack["type"], "connection_ack");
        client.subscribe("1", SUB, json!({"ws": ws})).await;
        // Field errors arrive as a `next` carrying `errors`, then `complete`.
        let msg = client.next().await.expect("an error message");
        let errors = match msg["type"].as_str() {
            Some("next") => msg["payload"]["errors"].clone(),
            Some("error") => msg["payload"].clone(),
            _ => panic!("unexpected {msg}"),
        };
        assert_eq!(errors[0]["extensions"]["code"], code, "{msg}");
        assert_eq!(client.next().await.expect("complete")["type"], "complete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_ends_an_open_subscription() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Live", "live", "PRODUCTION")
        .await;
    app.grant(&admin, &ws, "aud@live.test", "AUDITOR").await;
    let mut client =
        WsClient::connect_with_token(&app, "graphql-transport-ws", &app.token("aud@live.test"))
            .await;
    client.subscribe("1", SUB, json!({"ws": ws})).await;
    app.wait_for_subscribers(1).await;

    app.gql_ok(
        &admin,
        "mutation($i: RevokeRoleInput!) { revokeRole(input: $i) { role } }",
        json!({"i": {"workspaceId": ws, "userId": "aud@live.test", "role": "AUDITOR"}}),
    )
    .await;
    app.create_tenant(&admin, &ws, "After revoke", &guid())
        .await;

    loop {
        let msg = client
            .next()
            .await
            .expect("the server completes the subscription");
        if msg["type"] == "complete" {
            break;
        }
        assert_ne!(
            msg["payload"]["data"]["auditEventAppended"]["action"], "tenant.create",
            "{msg}"
        );
    }
}
