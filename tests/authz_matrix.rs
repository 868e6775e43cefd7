//! Every built-in role against every capability, exercised through the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use tenantatlas::{authz::Capability, domain::roles::Role};

/// Roles in column order.
const ROLES: [Role; 7] = [
    Role::PlatformAdmin,
    Role::PlatformOperator,
    Role::Owner,
    Role::Manager,
    Role::Operator,
    Role::Auditor,
    Role::Readonly,
];

/// The role -> capability table (the README shows the same table; a test keeps them equal).
const MATRIX: &[(Capability, [bool; 7])] = &[
    //                             padm   pop    owner  mgr    op     aud    ro
    (
        Capability::WorkspaceCreate,
        [true, false, false, false, false, false, false],
    ),
    (
        Capability::WorkspaceRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::WorkspaceUpdate,
        [true, false, true, true, false, false, false],
    ),
    (
        Capability::TenantRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::TenantCreate,
        [true, false, true, true, false, false, false],
    ),
    (
        Capability::TenantUpdate,
        [true, false, true, true, true, false, false],
    ),
    (
        Capability::MemberRead,
        [true, true, true, true, false, true, false],
    ),
    (
        Capability::MemberManage,
        [true, false, true, false, false, false, false],
    ),
    (
        Capability::AuditRead,
        [true, true, true, true, false, true, false],
    ),
    (
        Capability::ConnectionManage,
        [true, false, true, true, false, false, false],
    ),
    (
        Capability::PolicyRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::InventorySync,
        [true, true, true, true, true, false, false],
    ),
    (
        Capability::OperationRunRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::OperationRunCancel,
        [true, true, true, true, true, false, false],
    ),
    (
        Capability::SecretInventoryRead,
        [true, true, true, true, true, true, false],
    ),
    (
        Capability::BaselineRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::BaselineManage,
        [true, false, true, true, false, false, false],
    ),
    (
        Capability::FindingRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::FindingTriage,
        [true, true, true, true, true, false, false],
    ),
    (
        Capability::DriftEvaluate,
        [true, true, true, true, true, false, false],
    ),
    (
        Capability::ExceptionRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::ExceptionRequest,
        [true, false, true, true, true, false, false],
    ),
    (
        Capability::ExceptionApprove,
        [true, false, true, true, false, false, false],
    ),
    (
        Capability::EvidencePackRead,
        [true, true, true, true, true, true, true],
    ),
    (
        Capability::EvidencePackCreate,
        [true, true, true, true, false, true, false],
    ),
    (
        Capability::EvidencePackDownload,
        [true, true, true, true, false, true, false],
    ),
    (
        Capability::EvidencePackDelete,
        [true, false, true, false, false, false, false],
    ),
];

fn user_of(role: Role) -> String {
    format!("{}@matrix.test", role.as_str().replace('_', "-"))
}

/// Performs the operation that needs `cap` and reports whether it was allowed.
/// Denials must be FORBIDDEN (the caller has a role in the workspace); CONFLICT (e.g.
/// cancelling a finished run) means the check passed.
async fn attempt(
    app: &TestApp,
    token: &str,
    role: Role,
    cap: Capability,
    ws: &str,
    tenant: &str,
    run: &str,
    finding: &str,
    pack: &str,
) -> bool {
    let tag = role.as_str().replace('_', "-");
    // Downloads are plain HTTP: the pack is BUILDING, so an allowed caller gets 409.
    if cap == Capability::EvidencePackDownload {
        let resp = app
            .http
            .get(app.url(&format!("/evidence-packs/{pack}/download")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        return match resp.status().as_u16() {
            409 => true,
            403 => false,
            other => panic!("{role} / {cap}: unexpected status {other}"),
        };
    }
    let (query, vars): (&str, Value) = match cap {
        Capability::WorkspaceCreate => (
            "mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { workspace { id } } }",
            json!({"i": {"name": format!("By {tag}"), "slug": format!("by-{tag}"), "environment": "TEST"}}),
        ),
        Capability::WorkspaceRead => ("query($id: ID!) { workspace(id: $id) { id } }", json!({"id": ws})),
        Capability::WorkspaceUpdate => (
            "mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { name } } }",
            json!({"i": {"workspaceId": ws, "name": format!("Renamed by {tag}")}}),
        ),
        Capability::TenantRead => (
            "query($id: ID!) { workspace(id: $id) { tenants { totalCount } } }",
            json!({"id": ws}),
        ),
        Capability::TenantCreate => (
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
            json!({"i": {"workspaceId": ws, "displayName": format!("T {tag}"), "entraTenantId": guid()}}),
        ),
        Capability::TenantUpdate => (
            "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id } } }",
            json!({"i": {"tenantId": tenant, "displayName": format!("T by {tag}")}}),
        ),
        Capability::MemberRead => (
            "query($id: ID!) { workspace(id: $id) { members { role } } }",
            json!({"id": ws}),
        ),
        Capability::MemberManage => (
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { role } }",
            json!({"i": {"workspaceId": ws, "userId": format!("invitee-{tag}@matrix.test"), "role": "READONLY"}}),
        ),
        Capability::AuditRead => (
            "query($id: ID!) { workspace(id: $id) { auditEvents(first: 1) { totalCount } } }",
            json!({"id": ws}),
        ),
        Capability::ConnectionManage => (
            "mutation($i: ConfigureExportDirectoryInput!) { configureExportDirectory(input: $i) { tenant { id } } }",
            json!({"i": {"tenantId": tenant, "path": "matrix"}}),
        ),
        Capability::PolicyRead => (
            "query($id: ID!) { workspace(id: $id) { policies(first: 1) { totalCount } } }",
            json!({"id": ws}),
        ),
        Capability::InventorySync => (
            "mutation($i: StartInventorySyncInput!) { startInventorySync(input: $i) { operationRun { id } } }",
            json!({"i": {"tenantId": tenant}}),
        ),
        Capability::OperationRunRead => (
            "query($id: ID!) { workspace(id: $id) { operationRuns(first: 1) { totalCount } } }",
            json!({"id": ws}),
        ),
        Capability::SecretInventoryRead => (
            "query($id: ID!) { workspace(id: $id) { secretInventory(first: 1) { totalCount } } }",
            json!({"id": ws}),
        ),
        Capability::OperationRunCancel => (
            "mutation($i: CancelOperationRunInput!) { cancelOperationRun(input: $i) { operationRun { id } } }",
            json!({"i": {"operationRunId": run}}),
        ),
        Capability::BaselineRead => (
            "query($id: ID!) { workspace(id: $id) { baselines { totalCount } } }",
            json!({"id": ws}),
        ),
        // The tenant has no policies: past the check, the input is refused.
        Capability::BaselineManage => (
            "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"workspaceId": ws, "name": format!("B {tag}"), "sourceTenantId": tenant}}),
        ),
        Capability::FindingRead => (
            "query($id: ID!) { workspace(id: $id) { findings { totalCount } complianceScore { score } } }",
            json!({"id": ws}),
        ),
        Capability::FindingTriage => (
            "mutation($i: CommentOnFindingInput!) { commentOnFinding(input: $i) { finding { id } } }",
            json!({"i": {"findingId": finding, "body": format!("seen by {tag}")}}),
        ),
        Capability::ExceptionRead => (
            "query($id: ID!) { workspace(id: $id) { exceptions { totalCount } } }",
            json!({"id": ws}),
        ),
        // The first allowed role's request is PENDING; the others' are CONFLICT.
        Capability::ExceptionRequest => (
            "mutation($i: RequestFindingExceptionInput!) { requestFindingException(input: $i) { exception { id } } }",
            json!({"i": {"findingId": finding, "justification": format!("Accepted for the matrix by {tag}"), "expiresAt": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()}}),
        ),
        Capability::ExceptionApprove => (
            "mutation($i: StartExceptionExpirySweepInput!) { startExceptionExpirySweep(input: $i) { operationRun { id } } }",
            json!({"i": {"workspaceId": ws}}),
        ),
        Capability::EvidencePackRead => (
            "query($id: ID!) { workspace(id: $id) { evidencePacks { totalCount } } }",
            json!({"id": ws}),
        ),
        Capability::EvidencePackCreate => (
            "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }",
            json!({"i": {"workspaceId": ws, "title": format!("Pack by {tag}"), "tenantIds": [tenant],
                         "periodStart": "2026-01-01T00:00:00Z", "periodEnd": chrono::Utc::now().to_rfc3339()}}),
        ),
        // The pack is BUILDING: past the check, deleting it is a CONFLICT.
        Capability::EvidencePackDelete => (
            "mutation($i: DeleteEvidencePackInput!) { deleteEvidencePack(input: $i) { deletedEvidencePackId } }",
            json!({"i": {"evidencePackId": pack}}),
        ),
        Capability::EvidencePackDownload => unreachable!(),
        // No baseline is assigned: past the check, the input is refused.
        Capability::DriftEvaluate => (
            "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }",
            json!({"i": {"tenantId": tenant}}),
        ),
    };
    let resp = app.gql(Some(token), query, vars).await;
    if resp.get("errors").is_some() && error_code(&resp) == "CONFLICT" {
        return true;
    }
    if matches!(cap, Capability::BaselineManage | Capability::DriftEvaluate)
        && resp.get("errors").is_some()
        && error_code(&resp) == "BAD_USER_INPUT"
    {
        return true;
    }
    if resp.get("errors").is_none() {
        // `workspace(id:)` hides instead of failing.
        return !resp["data"]["workspace"].is_null() || cap != Capability::WorkspaceRead;
    }
    assert_eq!(
        error_code(&resp),
        "FORBIDDEN",
        "{role} / {cap}: a caller with a role must get FORBIDDEN, got {resp}"
    );
    false
}

/// A baseline and one finding, written directly (the matrix needs a finding to act on).
async fn db_finding(
    app: &TestApp,
    ws: tenantatlas::domain::ids::WorkspaceId,
    tenant: &str,
) -> String {
    use tenantatlas::{api::node, store};
    let (_, tenant) = node::parse_global_id(tenant).unwrap();
    let mut conn = app.ctx.db.conn().await.unwrap();
    let baseline = store::baselines::insert_baseline(
        &mut conn,
        store::baselines::NewBaseline {
            workspace: ws,
            name: "Matrix baseline",
            description: "",
            source_tenant: None,
            actor: "system:test",
        },
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let ids = store::findings::insert_findings(
        &mut conn,
        &[store::findings::NewFinding {
            workspace_id: ws.0,
            tenant_id: tenant,
            baseline_id: baseline.id,
            lineage_id: uuid::Uuid::new_v4(),
            policy_id: None,
            fingerprint: "sha256:matrix".into(),
            kind: "MISSING_POLICY".into(),
            severity: "HIGH".into(),
            severity_rank: 4,
            weight: 5,
            title: "Policy \"Matrix\" is missing from the tenant".into(),
            setting_path: None,
            expected_value: None,
            actual_value: None,
            first_seen_at: now,
            last_seen_at: now,
        }],
    )
    .await
    .unwrap();
    node::to_global_id(node::NodeType::Finding, ids[0]).0
}

/// An evidence pack stuck in BUILDING (no run: no worker touches it), written directly.
async fn db_building_pack(
    app: &TestApp,
    ws: tenantatlas::domain::ids::WorkspaceId,
    tenant: &str,
) -> String {
    use tenantatlas::{api::node, store};
    let (_, tenant) = node::parse_global_id(tenant).unwrap();
    let mut conn = app.ctx.db.conn().await.unwrap();
    let now = chrono::Utc::now();
    let pack = store::evidence::insert_pack(
        &mut conn,
        &store::evidence::NewEvidencePack {
            id: uuid::Uuid::new_v4(),
            workspace_id: ws.0,
            title: "Matrix pack".into(),
            tenant_ids: vec![tenant],
            period_start: now - chrono::Duration::days(30),
            period_end: now,
            created_by: None,
            created_by_actor: "system:test".into(),
            operation_run_id: None,
        },
    )
    .await
    .unwrap();
    assert!(store::evidence::mark_building(&mut conn, ws, pack.id)
        .await
        .unwrap());
    node::to_global_id(node::NodeType::EvidencePack, pack.id).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_exactly_the_capabilities_of_the_table() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Matrix", "matrix", "PRODUCTION")
        .await;
    let tenant = app.create_tenant(&admin, &ws, "Matrix HQ", &guid()).await;
    std::fs::create_dir_all(app.import_root.0.join("matrix").join("matrix")).unwrap();
    app.gql_ok(
        &admin,
        "mutation($i: ConfigureExportDirectoryInput!) { configureExportDirectory(input: $i) { tenant { id } } }",
        json!({"i": {"tenantId": tenant, "path": "matrix"}}),
    )
    .await;
    let run = app
        .gql_ok(
            &admin,
            "mutation($i: StartInventorySyncInput!) { startInventorySync(input: $i) { operationRun { id } } }",
            json!({"i": {"tenantId": tenant}}),
        )
        .await["startInventorySync"]["operationRun"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ws_id = workspace_uuid(&ws);
    for role in ROLES {
        let scope = (!role.is_platform()).then_some(ws_id);
        app.db_grant(&user_of(role), role, scope).await;
    }
    let finding = db_finding(&app, ws_id, &tenant).await;
    let pack = db_building_pack(&app, ws_id, &tenant).await;

    // Act + assert, one row per capability.
    let mut mismatches = Vec::new();
    for (cap, expected) in MATRIX {
        for (i, role) in ROLES.iter().enumerate() {
            let token = app.token(&user_of(*role));
            let allowed = attempt(
                &app, &token, *role, *cap, &ws, &tenant, &run, &finding, &pack,
            )
            .await;
            if allowed != expected[i] {
                mismatches.push(format!(
                    "{role} {cap}: allowed={allowed}, expected {}",
                    expected[i]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "authz matrix mismatches:\n{}",
        mismatches.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_capabilities_match_the_table_for_every_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app.create_workspace(&admin, "Caps", "caps", "TEST").await;
    let ws_id = workspace_uuid(&ws);
    for (i, role) in ROLES.iter().enumerate() {
        let email = user_of(*role);
        app.db_grant(&email, *role, (!role.is_platform()).then_some(ws_id))
            .await;
        let data = app
            .gql_ok(
                &app.token(&email),
                "query($id: ID!) { workspace(id: $id) { viewerCapabilities viewerRoles } }",
                json!({"id": ws}),
            )
            .await;
        let got: Vec<String> =
            serde_json::from_value(data["workspace"]["viewerCapabilities"].clone()).unwrap();
        let want: Vec<String> = MATRIX
            .iter()
            .filter(|(_, row)| row[i])
            .map(|(c, _)| c.as_str().to_string())
            .collect();
        assert_eq!(got, want, "{role}");
        assert_eq!(
            data["workspace"]["viewerRoles"],
            json!([role.as_str().to_uppercase()]),
            "{role}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_documents_the_same_role_table() {
    let mut table = String::from(
        "| capability | platform_admin | platform_operator | owner | manager | operator | auditor | readonly |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (cap, row) in MATRIX {
        table.push_str(&format!("| `{}` |", cap.as_str()));
        for allowed in row {
            table.push_str(if *allowed { " yes |" } else { " - |" });
        }
        table.push('\n');
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md must contain this table:\n{table}"
    );
    assert_eq!(
        MATRIX.len(),
        Capability::ALL.len(),
        "every capability is in the table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_a_role_learns_nothing_about_the_workspace() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Hidden", "hidden", "PRODUCTION")
        .await;
    let tenant = app.create_tenant(&admin, &ws, "Hidden HQ", &guid()).await;
    let stranger = app.token("stranger@elsewhere.test");
    let pack = db_building_pack(&app, workspace_uuid(&ws), &tenant).await;

    for cap in Capability::ALL {
        if *cap == Capability::WorkspaceCreate {
            continue;
        }
        let allowed = {
            let resp = match cap {
                Capability::WorkspaceRead | Capability::TenantRead | Capability::MemberRead | Capability::AuditRead => {
                    app.gql(Some(&stranger), "query($id: ID!) { workspace(id: $id) { id tenants { totalCount } members { role } auditEvents { totalCount } } }", json!({"id": ws})).await
                }
                Capability::WorkspaceUpdate => app.gql(Some(&stranger), "mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { id } } }", json!({"i": {"workspaceId": ws, "name": "x"}})).await,
                Capability::TenantCreate => app.gql(Some(&stranger), "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }", json!({"i": {"workspaceId": ws, "displayName": "x", "entraTenantId": guid()}})).await,
                Capability::TenantUpdate => app.gql(Some(&stranger), "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id } } }", json!({"i": {"tenantId": tenant, "displayName": "x"}})).await,
                Capability::MemberManage => app.gql(Some(&stranger), "mutation($i: GrantRoleInput!) { grantRole(input: $i) { role } }", json!({"i": {"workspaceId": ws, "userId": "stranger@elsewhere.test", "role": "OWNER"}})).await,
                Capability::ConnectionManage => app.gql(Some(&stranger), "mutation($i: ConfigureExportDirectoryInput!) { configureExportDirectory(input: $i) { tenant { id } } }", json!({"i": {"tenantId": tenant, "path": "x"}})).await,
                Capability::PolicyRead | Capability::OperationRunRead | Capability::SecretInventoryRead => app.gql(Some(&stranger), "query($id: ID!) { workspace(id: $id) { policies { totalCount } operationRuns { totalCount } secretInventory { totalCount } } }", json!({"id": ws})).await,
                Capability::InventorySync => app.gql(Some(&stranger), "mutation($i: StartInventorySyncInput!) { startInventorySync(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": tenant}})).await,
                Capability::OperationRunCancel => {
                    let ghost = tenantatlas::api::node::to_global_id(tenantatlas::api::node::NodeType::OperationRun, uuid::Uuid::new_v4());
                    app.gql(Some(&stranger), "mutation($i: CancelOperationRunInput!) { cancelOperationRun(input: $i) { operationRun { id } } }", json!({"i": {"operationRunId": ghost.0}})).await
                }
                Capability::BaselineRead | Capability::FindingRead => app.gql(Some(&stranger), "query($id: ID!) { workspace(id: $id) { baselines { totalCount } findings { totalCount } complianceScore { score } } }", json!({"id": ws})).await,
                Capability::BaselineManage => app.gql(Some(&stranger), "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id } } }", json!({"i": {"workspaceId": ws, "name": "x", "sourceTenantId": tenant}})).await,
                Capability::FindingTriage => {
                    let ghost = tenantatlas::api::node::to_global_id(tenantatlas::api::node::NodeType::Finding, uuid::Uuid::new_v4());
                    app.gql(Some(&stranger), "mutation($i: FindingStepInput!) { triageFinding(input: $i) { finding { id } } }", json!({"i": {"findingId": ghost.0}})).await
                }
                Capability::ExceptionRead => app.gql(Some(&stranger), "query($id: ID!) { workspace(id: $id) { exceptions { totalCount } } }", json!({"id": ws})).await,
                Capability::ExceptionRequest => {
                    let ghost = tenantatlas::api::node::to_global_id(tenantatlas::api::node::NodeType::Finding, uuid::Uuid::new_v4());
                    app.gql(Some(&stranger), "mutation($i: RequestFindingExceptionInput!) { requestFindingException(input: $i) { exception { id } } }", json!({"i": {"findingId": ghost.0, "justification": "x".repeat(30), "expiresAt": "2030-01-01T00:00:00Z"}})).await
                }
                Capability::ExceptionApprove => app.gql(Some(&stranger), "mutation($i: StartExceptionExpirySweepInput!) { startExceptionExpirySweep(input: $i) { operationRun { id } } }", json!({"i": {"workspaceId": ws}})).await,
                Capability::DriftEvaluate => app.gql(Some(&stranger), "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": tenant}})).await,
                Capability::EvidencePackRead => app.gql(Some(&stranger), "query($id: ID!) { workspace(id: $id) { evidencePacks { totalCount } } }", json!({"id": ws})).await,
                Capability::EvidencePackCreate => app.gql(Some(&stranger), "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }", json!({"i": {"workspaceId": ws, "title": "x", "tenantIds": [tenant], "periodStart": "2026-01-01T00:00:00Z", "periodEnd": "2026-02-01T00:00:00Z"}})).await,
                Capability::EvidencePackDelete => app.gql(Some(&stranger), "mutation($i: DeleteEvidencePackInput!) { deleteEvidencePack(input: $i) { deletedEvidencePackId } }", json!({"i": {"evidencePackId": pack}})).await,
                Capability::EvidencePackDownload => {
                    let status = app.http.get(app.url(&format!("/evidence-packs/{pack}/download"))).bearer_auth(&stranger).send().await.unwrap().status();
                    assert_eq!(status.as_u16(), 404, "a stranger learns nothing about a pack");
                    continue;
                }
                Capability::WorkspaceCreate => unreachable!(),
            };
            if resp.get("errors").is_some() {
                assert_eq!(error_code(&resp), "NOT_FOUND", "{cap}: {resp}");
                false
            } else {
                assert!(resp["data"]["workspace"].is_null(), "{cap}: {resp}");
                false
            }
        };
        assert!(!allowed);
    }
}
