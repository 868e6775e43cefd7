//! The audit trail: every mutation is recorded, chained per workspace, append-only, and
//! `tenantatlas audit verify` detects tampering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::json;

const EVENTS: &str = "query($id: ID!) { workspace(id: $id) { auditEvents(first: 100) { totalCount edges { node { sequence actor action targetType before after hash prevHash occurredAt } } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_appends_an_audit_event_with_before_and_after() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    let tenant = app.create_tenant(&admin, &ws, "HQ", &guid()).await;
    app.gql_ok(
        &admin,
        "mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { id } } }",
        json!({"i": {"workspaceId": ws, "name": "Contoso Ltd", "environment": "STAGING"}}),
    )
    .await;
    app.gql_ok(
        &admin,
        "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id } } }",
        json!({"i": {"tenantId": tenant, "displayName": "Headquarters"}}),
    )
    .await;
    app.grant(&admin, &ws, "ann@contoso.test", "AUDITOR").await;
    app.gql_ok(
        &admin,
        "mutation($i: RevokeRoleInput!) { revokeRole(input: $i) { role } }",
        json!({"i": {"workspaceId": ws, "userId": "ann@contoso.test", "role": "AUDITOR"}}),
    )
    .await;
    for m in [
        "pinWorkspace",
        "unpinWorkspace",
        "favoriteWorkspace",
        "unfavoriteWorkspace",
    ] {
        let input = format!("{}{}Input", &m[..1].to_uppercase(), &m[1..]);
        app.gql_ok(
            &admin,
            &format!("mutation($i: {input}!) {{ {m}(input: $i) {{ workspace {{ id }} }} }}"),
            json!({"i": {"workspaceId": ws}}),
        )
        .await;
    }

    let data = app.gql_ok(&admin, EVENTS, json!({"id": ws})).await;
    let edges = data["workspace"]["auditEvents"]["edges"]
        .as_array()
        .unwrap();
    let actions: Vec<&str> = edges
        .iter()
        .rev()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "workspace.create",
            "tenant.create",
            "workspace.update",
            "tenant.update",
            "role.grant",
            "role.revoke",
            "workspace.pin",
            "workspace.unpin",
            "workspace.favorite",
            "workspace.unfavorite"
        ]
    );
    let update = &edges
        .iter()
        .find(|e| e["node"]["action"] == "workspace.update")
        .unwrap()["node"];
    assert_eq!(update["before"]["name"], "Contoso");
    assert_eq!(update["after"]["name"], "Contoso Ltd");
    assert_eq!(update["after"]["environment"], "STAGING");
    assert_eq!(update["actor"], "user:admin@platform.test");
    // Newest first, sequences contiguous, each linked to the previous.
    let seqs: Vec<i64> = edges
        .iter()
        .map(|e| e["node"]["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=10).rev().collect::<Vec<_>>());
    for pair in edges.windows(2) {
        assert_eq!(pair[0]["node"]["prevHash"], pair[1]["node"]["hash"]);
    }
    assert_eq!(edges.last().unwrap()["node"]["prevHash"], "0".repeat(64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_accepts_an_intact_chain_and_names_the_tampered_event() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    for i in 0..3 {
        app.create_tenant(&admin, &ws, &format!("T{i}"), &guid())
            .await;
    }

    let (code, out, err) =
        run_cli(&app.db.url, &["audit", "verify", "--workspace", "contoso"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok: 4 event(s) verified"), "{out}");
    let (code, out, _) = run_cli(&app.db.url, &["audit", "verify", "--workspace", "*"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("ok: 1 event(s)"), "the platform grant: {out}");

    // The table refuses changes...
    let mut conn = app.db.connect().await;
    let refused = conn
        .batch_execute("UPDATE audit_events SET after = '{\"displayName\":\"evil\"}' WHERE seq = 3")
        .await;
    assert!(refused.is_err(), "audit_events must be append-only");
    assert!(conn
        .batch_execute("DELETE FROM audit_events WHERE seq = 3")
        .await
        .is_err());

    // ...so tamper the way a superuser could, past the trigger.
    conn.batch_execute(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         UPDATE audit_events SET after = '{\"displayName\":\"evil\"}' WHERE seq = 3 AND chain <> '*';
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;",
    )
    .await
    .unwrap();
    let (code, _, err) = run_cli(&app.db.url, &["audit", "verify", "--workspace", "contoso"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("broken at event 3"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_event_breaks_the_chain_too() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    app.create_tenant(&admin, &ws, "A", &guid()).await;
    app.create_tenant(&admin, &ws, "B", &guid()).await;
    let mut conn = app.db.connect().await;
    conn.batch_execute(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         DELETE FROM audit_events WHERE seq = 2 AND chain <> '*';
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;",
    )
    .await
    .unwrap();
    let (code, _, err) = run_cli(&app.db.url, &["audit", "verify", "--workspace", "contoso"]).await;
    assert_eq!(code, 3);
    assert!(err.contains("event 3"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_keep_one_unbroken_chain() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Busy", "busy", "PRODUCTION")
        .await;
    let writes = (0..16).map(|i| {
        let app = &app;
        let admin = admin.clone();
        let ws = ws.clone();
        async move {
            app.create_tenant(&admin, &ws, &format!("T{i}"), &guid())
                .await
        }
    });
    futures_util::future::join_all(writes).await;

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        max: i64,
    }
    let mut conn = app.db.connect().await;
    let n: N = diesel::sql_query(
        "SELECT count(*) AS n, max(seq) AS max FROM audit_events WHERE chain <> '*'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!((n.n, n.max), (17, 17));
    let (code, out, err) = run_cli(&app.db.url, &["audit", "verify", "--workspace", "busy"]).await;
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_need_audit_read() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    app.grant(&admin, &ws, "op@contoso.test", "OPERATOR").await;
    let resp = app
        .gql(
            Some(&app.token("op@contoso.test")),
            EVENTS,
            json!({"id": ws}),
        )
        .await;
    assert_eq!(error_code(&resp), "FORBIDDEN");
}
