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

const FINDINGS: &str = "{
  workspaces(first: 5) { edges { node {
    complianceScore { score } complianceTrend(days: 7) { score } findingsTrend(days: 7) { open { total } }
    baselines(first: 5) { edges { node { name versions { version } items { displayName sourcePolicy { displayName } }
      assignments { tenant { displayName } lastEvaluatedAt } } } }
    findings(first: 10) { totalCount edges { node {
      title tenant { displayName } policy { displayName } baseline { name } assignee { email }
      comments { body } history { action }
    } } }
    tenants(first: 5) { edges { node {
      complianceScore { score } complianceTrend(days: 7) { score }
      findings(first: 5) { totalCount edges { node { kind baseline { name } } } }
    } } }
  } } }
}";

/// Workspaces with a baseline assigned to every tenant and `per_tenant` findings each
/// (with a comment and a history entry), written directly.
async fn measure_findings(workspaces: usize, tenants: usize, per_tenant: usize) -> u64 {
    use tenantatlas::{api::node, domain::ids::TenantId, store};
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin_token().await;
    for w in 0..workspaces {
        let ws = app
            .create_workspace(&admin, &format!("W{w}"), &format!("w{w}"), "TEST")
            .await;
        let ws_id = workspace_uuid(&ws);
        let mut conn = app.ctx.db.conn().await.unwrap();
        let baseline = store::baselines::insert_baseline(
            &mut conn,
            store::baselines::NewBaseline {
                workspace: ws_id,
                name: "B",
                description: "",
                source_tenant: None,
                actor: "system:test",
            },
        )
        .await
        .unwrap();
        store::baselines::insert_version(&mut conn, ws_id, baseline.id, 1, 0, "system:test")
            .await
            .unwrap();
        drop(conn);
        for t in 0..tenants {
            let tenant = app
                .create_tenant(&admin, &ws, &format!("T{t}"), &guid())
                .await;
            let (_, tenant) = node::parse_global_id(&tenant).unwrap();
            let mut conn = app.ctx.db.conn().await.unwrap();
            store::baselines::insert_assignments(
                &mut conn,
                ws_id,
                baseline.id,
                &[tenant],
                "system:test",
            )
            .await
            .unwrap();
            store::baselines::record_evaluation(
                &mut conn,
                ws_id,
                baseline.id,
                TenantId(tenant),
                10,
                100,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
            let now = chrono::Utc::now();
            let new: Vec<store::findings::NewFinding> = (0..per_tenant)
                .map(|i| store::findings::NewFinding {
                    workspace_id: ws_id.0,
                    tenant_id: tenant,
                    baseline_id: baseline.id,
                    lineage_id: uuid::Uuid::new_v4(),
                    policy_id: None,
                    fingerprint: format!("fp-{tenant}-{i}"),
                    kind: "MISSING_POLICY".into(),
                    severity: "HIGH".into(),
                    severity_rank: 4,
                    weight: 5,
                    title: format!("F{i}"),
                    setting_path: None,
                    expected_value: None,
                    actual_value: None,
                    first_seen_at: now,
                    last_seen_at: now,
                })
                .collect();
            let ids = store::findings::insert_findings(&mut conn, &new)
                .await
                .unwrap();
            for id in &ids {
                store::findings::insert_comment(&mut conn, ws_id, *id, "user:a@b.test", "c")
                    .await
                    .unwrap();
            }
            let history: Vec<store::findings::NewHistory> = ids
                .iter()
                .map(|id| store::findings::NewHistory {
                    finding_id: *id,
                    workspace_id: ws_id.0,
                    action: "finding.detect".into(),
                    actor: "system:test".into(),
                    from_status: None,
                    to_status: Some("OPEN".into()),
                    comment: None,
                    at: now,
                })
                .collect();
            store::findings::insert_history(&mut conn, &history)
                .await
                .unwrap();
            tenantatlas::service::findings::refresh_compliance(
                &mut conn,
                ws_id,
                Some(TenantId(tenant)),
            )
            .await
            .unwrap();
        }
    }
    app.gql_ok(&admin, FINDINGS, json!({})).await;
    let mut best = u64::MAX;
    for _ in 0..10 {
        let q0 = app.ctx.db.queries.get();
        let data = app.gql_ok(&admin, FINDINGS, json!({})).await;
        best = best.min(app.ctx.db.queries.get() - q0);
        let ws = &data["workspaces"]["edges"][0]["node"];
        assert_eq!(ws["findings"]["totalCount"], tenants * per_tenant);
        assert_eq!(
            ws["tenants"]["edges"][0]["node"]["complianceScore"]["score"],
            100 - (5 * per_tenant as i64).min(100)
        );
        assert_eq!(
            ws["findings"]["edges"][0]["node"]["history"][0]["action"],
            "finding.detect"
        );
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_finding_queries_run_the_same_statements_at_any_size() {
    let _serial = SERIAL.lock().await;
    let small = measure_findings(1, 1, 1).await;
    let large = measure_findings(3, 3, 4).await;
    // A starved machine can split a batch (one more statement) in either measurement, but
    // an N+1 would add at least eight here (nine tenants and 36 findings against one and
    // one): two statements of slack keep the test about N+1, not about machine load.
    assert!(
        large <= small + 2,
        "statements: {small} for 1x1x1 findings vs {large} for 3x3x4"
    );
}

const PACKS: &str = "{ workspaces(first: 100) { edges { node { evidencePacks(first: 20) { totalCount edges { node {
    title status downloadUrl tenants { displayName } createdBy { email } operationRun { status } } } } } } } }";

/// `workspaces` workspaces with `tenants` tenants and `packs` packs (built by no worker)
/// each; returns the statements of one run of the nested pack query.
async fn measure_packs(workspaces: usize, tenants: usize, packs: usize) -> u64 {
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin_token().await;
    for w in 0..workspaces {
        let ws = app
            .create_workspace(&admin, &format!("W{w}"), &format!("w{w}"), "TEST")
            .await;
        let mut ids = Vec::new();
        for t in 0..tenants {
            ids.push(
                app.create_tenant(&admin, &ws, &format!("T{t}"), &guid())
                    .await,
            );
        }
        for p in 0..packs {
            app.gql_ok(
                &admin,
                "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }",
                json!({"i": {"workspaceId": ws, "title": format!("P{p}"), "tenantIds": ids,
                             "periodStart": "2026-01-01T00:00:00Z", "periodEnd": "2026-02-01T00:00:00Z"}}),
            )
            .await;
        }
    }
    let mut best = u64::MAX;
    for _ in 0..10 {
        let q0 = app.ctx.db.queries.get();
        let data = app.gql_ok(&admin, PACKS, json!({})).await;
        best = best.min(app.ctx.db.queries.get() - q0);
        let ws = &data["workspaces"]["edges"][0]["node"];
        assert_eq!(ws["evidencePacks"]["totalCount"], packs);
        assert_eq!(
            ws["evidencePacks"]["edges"][0]["node"]["tenants"]
                .as_array()
                .unwrap()
                .len(),
            tenants
        );
        assert_eq!(
            ws["evidencePacks"]["edges"][0]["node"]["operationRun"]["status"],
            "QUEUED"
        );
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_evidence_pack_queries_run_the_same_statements_at_any_size() {
    let _serial = SERIAL.lock().await;
    let small = measure_packs(1, 1, 1).await;
    let large = measure_packs(3, 3, 4).await;
    assert!(
        large <= small + 2,
        "statements: {small} for 1x1x1 packs vs {large} for 3x3x4"
    );
}
