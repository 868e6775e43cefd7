//! Operation runs: live progress over WebSocket (across processes), lease expiry, cancel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

const PROGRESS: &str = "subscription($id: ID!) { operationRunProgress(id: $id) { status processed total message counts { created } } }";

fn demo_export(app: &TestApp, name: &str) {
    copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/exports/northwind-hq"),
        &app.import_root.0.join("inventory").join(name),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_a_run_from_queued_to_succeeded_when_another_process_runs_it() {
    // Arrange: this server has no workers, so the run waits in the queue.
    let app = TestApp::spawn_configured(TestDb::new().await, |c| c.jobs.workers = 0).await;
    demo_export(&app, "demo");
    let (admin, _ws, tenant) = app.tenant_with_export("demo").await;
    let run = app.start_sync(&admin, &tenant, &[]).await;
    let mut client = WsClient::connect_with_token(&app, "graphql-transport-ws", &admin).await;
    client.subscribe("p", PROGRESS, json!({"id": run})).await;
    let first = client.next_data().await;
    assert_eq!(
        first["data"]["operationRunProgress"]["status"], "QUEUED",
        "current state first: {first}"
    );

    // Act: a second process (its own pool, enforcer and LISTEN connection) runs it.
    let (worker_app, _ctx) = app.spawn_sibling().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker_app.run_until(async move {
        let _ = stopped.await;
    }));

    // Assert: every change arrives, ending with the final state, then `complete`.
    let mut statuses = vec!["QUEUED".to_string()];
    let last = loop {
        let msg = client.next().await.expect("stream ended early");
        if msg["type"] == "complete" {
            break None;
        }
        assert_eq!(msg["type"], "next", "{msg}");
        let state = msg["payload"]["data"]["operationRunProgress"].clone();
        statuses.push(state["status"].as_str().unwrap().to_string());
        if state["status"] == "SUCCEEDED" {
            break Some(state);
        }
    };
    let last = last.expect("a final state before complete");
    assert_eq!(last["processed"], 4);
    assert_eq!(last["counts"]["created"], 4);
    assert!(statuses.contains(&"RUNNING".to_string()), "{statuses:?}");
    assert_eq!(client.next().await.unwrap()["type"], "complete");
    let _ = stop.send(());
    let _ = handle.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_subscription_sees_every_run_of_the_workspace() {
    let app = TestApp::spawn().await;
    demo_export(&app, "demo");
    let (admin, ws, tenant) = app.tenant_with_export("demo").await;
    let mut client = WsClient::connect_with_token(&app, "graphql-ws", &admin).await;
    client
        .subscribe(
            "d",
            "subscription($ws: ID!) { operationRunsUpdated(workspaceId: $ws) { id status } }",
            json!({"ws": ws}),
        )
        .await;
    app.wait_for_subscribers(1).await;
    let run = app.start_sync(&admin, &tenant, &[]).await;
    loop {
        let payload = client.next_data().await;
        let state = &payload["data"]["operationRunsUpdated"];
        assert_eq!(state["id"], json!(run));
        if state["status"] == "SUCCEEDED" {
            break;
        }
    }
}

async fn db_insert_abandoned_run(app: &TestApp, tenant: &str, attempt: i32) -> String {
    let tenant_id = match tenantatlas::api::node::parse_global_id(tenant) {
        Some((_, id)) => id,
        None => panic!("bad tenant id"),
    };
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    let mut conn = app.db.connect().await;
    let row: Id = diesel::sql_query(
        "INSERT INTO operation_runs (workspace_id, tenant_id, kind, status, attempt, max_attempts, lease_owner, lease_expires_at, started_at, initiated_by) \
         SELECT workspace_id, id, 'INVENTORY_SYNC', 'RUNNING', $2, 3, 'worker-that-died', now() - interval '1 minute', now() - interval '2 minutes', 'user:admin@platform.test' \
         FROM tenants WHERE id = $1 RETURNING id",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<diesel::sql_types::Integer, _>(attempt)
    .get_result(&mut conn)
    .await
    .unwrap();
    tenantatlas::api::node::to_global_id(tenantatlas::api::node::NodeType::OperationRun, row.id).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_worker_died_is_resumed_after_its_lease_expires() {
    let app = TestApp::spawn().await;
    demo_export(&app, "demo");
    let (admin, _ws, tenant) = app.tenant_with_export("demo").await;
    let run = db_insert_abandoned_run(&app, &tenant, 1).await;
    let done = app.wait_run(&admin, &run).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempt"], 2);
    assert_eq!(done["counts"]["created"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_abandoned_on_its_last_attempt_fails_instead_of_staying_running() {
    let app = TestApp::spawn().await;
    demo_export(&app, "demo");
    let (admin, _ws, tenant) = app.tenant_with_export("demo").await;
    let run = db_insert_abandoned_run(&app, &tenant, 3).await;
    let done = app.wait_run(&admin, &run).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("stopped responding"),
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_can_be_cancelled_and_a_finished_one_cannot() {
    let app = TestApp::spawn_configured(TestDb::new().await, |c| c.jobs.workers = 0).await;
    demo_export(&app, "demo");
    let (admin, ws, tenant) = app.tenant_with_export("demo").await;
    let run = app.start_sync(&admin, &tenant, &[]).await;
    let cancel = "mutation($i: CancelOperationRunInput!) { cancelOperationRun(input: $i) { operationRun { status cancelRequested } } }";
    let d = app
        .gql_ok(&admin, cancel, json!({"i": {"operationRunId": run}}))
        .await;
    assert_eq!(
        d["cancelOperationRun"]["operationRun"],
        json!({"status": "CANCELLED", "cancelRequested": true})
    );
    let resp = app
        .gql(Some(&admin), cancel, json!({"i": {"operationRunId": run}}))
        .await;
    assert_eq!(error_code(&resp), "CONFLICT");

    // The operations table filters and sorts.
    app.start_sync(&admin, &tenant, &[]).await;
    let d = app
        .gql_ok(&admin, "query($ws: ID!) { workspace(id: $ws) { all: operationRuns { totalCount } queued: operationRuns(filter: {status: QUEUED}) { totalCount edges { node { kind status tenant { displayName } } } } oldest: operationRuns(first: 1, orderBy: {direction: ASC}) { edges { node { status } } } } }", json!({"ws": ws}))
        .await;
    let w: &Value = &d["workspace"];
    assert_eq!(w["all"]["totalCount"], 2);
    assert_eq!(w["queued"]["totalCount"], 1);
    assert_eq!(
        w["queued"]["edges"][0]["node"],
        json!({"kind": "INVENTORY_SYNC", "status": "QUEUED", "tenant": {"displayName": "Contoso HQ"}})
    );
    assert_eq!(w["oldest"]["edges"][0]["node"]["status"], "CANCELLED");

    // A run of another workspace does not exist for an outsider.
    let outsider = app.token("nobody@else.test");
    let resp = app
        .gql(
            Some(&outsider),
            cancel,
            json!({"i": {"operationRunId": run}}),
        )
        .await;
    assert_eq!(error_code(&resp), "NOT_FOUND");
}
