//! No N+1: the SQL statements and casbin `enforce` calls a nested query makes do not grow
//! with the number of rows it returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

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
    // smallest of three runs is the query's real statement count.
    app.gql_ok(&ann, NESTED, json!({})).await;
    let mut best = (u64::MAX, u64::MAX);
    for _ in 0..3 {
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
