//! No N+1: the SQL statements and casbin `enforce` calls a nested query makes do not grow
//! with the number of rows it returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

/// The tests of this file measure timing-sensitive batching: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NESTED: &str = "{
  viewer { roles { role workspace { slug } } }
  workspaces(first: 100) {
    totalCount
    edges { node {
      name isPinned isFavorite viewerRoles viewerCapabilities
      members { role user { email } }
      tenants(first: 50) { totalCount edges { node { displayName workspace { slug } } } }
      auditEvents(first: 5) { totalCount edges { node { action sequence } } }
    } }
  }
}";

/// Builds `workspaces` workspaces with `tenants` tenants each, all owned by Ann, and
/// returns (statements, enforce calls) for one run of the nested query.
async fn measure(workspaces: usize, tenants: usize) -> (u64, u64) {
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin_token().await;
    for w in 0..workspaces {
        let ws = app
            .create_workspace(&admin, &format!("W{w}"), &format!("w{w}"), "TEST")
            .await;
        app.grant(&admin, &ws, "ann@msp.test", "OWNER").await;
        app.grant(&admin, &ws, "bob@msp.test", "AUDITOR").await;
        for t in 0..tenants {
            app.create_tenant(&admin, &ws, &format!("T{t}"), &guid())
                .await;
        }
    }
    let ann = app.token("ann@msp.test");
    // Warm up (creates Ann's user row), then measure. DataLoader batches by time (a few
    // ms), so a busy machine can only ever split a batch, never merge an N+1 away: the
    // smallest of five runs is the query's real statement count.
    app.gql_ok(&ann, NESTED, json!({})).await;
    let mut best = (u64::MAX, u64::MAX);
    for _ in 0..5 {
        let (q0, e0) = (app.ctx.db.queries.get(), app.ctx.authz.enforce_calls());
        let data = app.gql_ok(&ann, NESTED, json!({})).await;
        let (q1, e1) = (app.ctx.db.queries.get(), app.ctx.authz.enforce_calls());
        assert_eq!(data["workspaces"]["totalCount"], workspaces);
        assert_eq!(
            data["workspaces"]["edges"][0]["node"]["tenants"]["totalCount"],
            tenants
        );
        best = (best.0.min(q1 - q0), best.1.min(e1 - e0));
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_and_enforce_counts_do_not_grow_with_rows() {
    let _serial = SERIAL.lock().await;
    let small = measure(2, 1).await;
    let large = measure(7, 4).await;
    assert_eq!(
        small.0, large.0,
        "SQL statements: {} for 2x1 rows vs {} for 7x4 rows",
        small.0, large.0
    );
    assert_eq!(
        small.1, large.1,
        "casbin enforce calls: {} vs {}",
        small.1, large.1
    );
    assert!(small.0 > 0 && small.1 > 0, "the counters count: {small:?}");
}

const INVENTORY: &str = "{
  workspaces(first: 5) {
    edges { node {
      tenants(first: 5) { edges { node {
        displayName
        policies(first: 10) { totalCount edges { node {
          displayName lastSeenAt tenant { displayName }
          versions(first: 3) { totalCount edges { node { version payloadHash } } }
        } } }
      } } }
    } }
  }
}";

/// Imports the demo export into a tenant without workers (the run executes inline).
async fn db_sync(app: &TestApp, tenant_global: &str, dir: &std::path::Path) {
    let Some((_, tenant)) = tenantatlas::api::node::parse_global_id(tenant_global) else {
        panic!("bad id")
    };
    let mut conn = app.ctx.db.conn().await.unwrap();
    let ws = tenantatlas::store::tenants::find_tenant_workspace(
        &mut conn,
        tenantatlas::domain::ids::TenantId(tenant),
    )
    .await
    .unwrap()
    .unwrap();
    let run = tenantatlas::store::operation_runs::insert_claimed_run(
        &mut conn,
        ws,
        Some(tenant),
        "INVENTORY_SYNC",
        json!({"path": dir.to_string_lossy()}),
        "system:test",
        "test-worker",
        30.0,
    )
    .await
    .unwrap();
    drop(conn);
    tenantatlas::jobs::execute_run(app.ctx.clone(), run, "test-worker".into()).await;
}

async fn measure_inventory(workspaces: usize, tenants: usize, resyncs: usize) -> u64 {
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin_token().await;
    let export = app.import_root.0.join("demo");
    copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/exports/northwind-hq"),
        &export,
    );
    for w in 0..workspaces {
        let ws = app
            .create_workspace(&admin, &format!("W{w}"), &format!("w{w}"), "TEST")
            .await;
        for t in 0..tenants {
            let tenant = app
                .create_tenant(&admin, &ws, &format!("T{t}"), &guid())
                .await;
            db_sync(&app, &tenant, &export).await;
            // More versions: change one policy between syncs.
            for r in 0..resyncs {
                let file = export.join("CompliancePolicies/NW-Compliance-Password.json");
                let mut v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
                v["passwordMinimumLength"] = json!(20 + r);
                std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
                db_sync(&app, &tenant, &export).await;
            }
        }
    }
    app.gql_ok(&admin, INVENTORY, json!({})).await;
    let mut best = u64::MAX;
    for _ in 0..5 {
        let q0 = app.ctx.db.queries.get();
        let data = app.gql_ok(&admin, INVENTORY, json!({})).await;
        best = best.min(app.ctx.db.queries.get() - q0);
        let policies =
            &data["workspaces"]["edges"][0]["node"]["tenants"]["edges"][0]["node"]["policies"];
        assert_eq!(policies["totalCount"], 4);
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_inventory_queries_run_the_same_statements_at_any_size() {
    let _serial = SERIAL.lock().await;
    // workspaces -> tenants -> policies -> versions at two data sizes.
    let small = measure_inventory(1, 1, 0).await;
    let large = measure_inventory(3, 3, 2).await;
    assert_eq!(
        small, large,
        "statements: {small} for 1x1 tenants vs {large} for 3x3 tenants with more versions"
    );
}
