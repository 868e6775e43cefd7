//! Baselines, drift and findings, through the API: on the real corpus (exact findings
//! with expected and actual values, no false drift on a re-export, deduplication, the
//! lifecycle across evaluations, scores and trends) and on the demo export (workflow,
//! validation, roles).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

const FINDING_FIELDS: &str =
    "id kind severity status title settingPath expectedValue actualValue fingerprint \
    reopenCount resolution firstSeenAt lastSeenAt resolvedAt policy { displayName lifecycleState } \
    baseline { name } tenant { displayName } history { action actor fromStatus toStatus comment }";

async fn tenant_findings(app: &TestApp, token: &str, tenant: &str, filter: Value) -> Vec<Value> {
    let data = app
        .gql_ok(
            token,
            &format!("query($id: ID!, $f: FindingFilter) {{ tenant(id: $id) {{ findings(first: 100, filter: $f) {{ totalCount edges {{ node {{ {FINDING_FIELDS} }} }} }} }} }}"),
            json!({"id": tenant, "f": filter}),
        )
        .await;
    let conn = &data["tenant"]["findings"];
    let list: Vec<Value> = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(
        conn["totalCount"],
        list.len(),
        "totalCount matches the list"
    );
    list
}

async fn score(app: &TestApp, token: &str, tenant: &str) -> Value {
    app.gql_ok(
        token,
        "query($id: ID!) { tenant(id: $id) { complianceScore { score totalWeight compliantWeight openDriftWeight acceptedRiskWeight openDriftPercent openFindings { total critical high medium low info } } complianceTrend(days: 7) { date score openDriftPercent } } }",
        json!({"id": tenant}),
    )
    .await["tenant"]
        .clone()
}

/// What a re-export from another tenant changes without changing configuration: every
/// id, timestamp and group id is new, every list is reversed, keys come in another order
/// (serde_json writes them sorted).
fn reexport(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match (k.as_str(), &val) {
                    ("id" | "groupId", Value::String(_)) => *val = json!(guid()),
                    ("createdDateTime" | "lastModifiedDateTime", Value::String(_)) => {
                        *val = json!("2026-11-30T08:00:00Z")
                    }
                    _ => reexport(val),
                }
            }
        }
        Value::Array(items) => {
            items.reverse();
            items.iter_mut().for_each(reexport);
        }
        _ => {}
    }
}

fn setting_mut<'a>(policy: &'a mut Value, def: &str) -> &'a mut Value {
    policy["settings"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["settingInstance"]["settingDefinitionId"] == def)
        .unwrap_or_else(|| panic!("{def} not found"))
}

const SANDBOX: &str =
    "SettingsCatalog/Win - OIB - SC - Device Security - U - Windows Sandbox - v3.4.json";
const SANDBOX_AUDIO: &str = "device_vendor_msft_policy_config_windowssandbox_allowaudioinput";
const TIMEZONE: &str =
    "SettingsCatalog/Win - OIB - SC - Device Security - D - Timezone - v3.4.json";
const TIMEZONE_NTP: &str =
    "device_vendor_msft_policy_config_admx_w32time_w32time_policy_configure_ntpclient";
const PASSWORD: &str = "CompliancePolicies/Win - OIB - Compliance - U - Password - v3.1.json";
const NEVER_THERE: &str =
    "SettingsCatalog/Win - OIB - SC - Microsoft Store - U - Configuration - v3.3.json";
const DELETED_LATER: &str = "UpdatePolicies/Win - OIB - WUfB - Ring 2 - UAT - v3.0.json";
const RENAMED_CLASSIC: &str =
    "DriverUpdateProfiles/Win - OIB - WUfB Drivers - Ring 1 - Pilot - v3.0.json";
const RENAMED_SC: &str =
    "SettingsCatalog/Win - OIB - SC - Device Security - D - Config Refresh - v3.2.json";

/// The drifted tenant's export: a re-export of the corpus with known changes.
fn drifted_copy(corpus: &Path, to: &Path) {
    copy_tree(corpus, to);
    let files: Vec<PathBuf> = [
        "CompliancePolicies",
        "DeviceConfiguration",
        "DriverUpdateProfiles",
        "SettingsCatalog",
        "UpdatePolicies",
    ]
    .iter()
    .flat_map(|d| {
        std::fs::read_dir(to.join(d))
            .unwrap()
            .map(|e| e.unwrap().path())
    })
    .collect();
    for f in &files {
        let mut v = read_json(f);
        reexport(&mut v);
        write_json(f, &v);
    }
    // A value changed (settings catalog choice).
    let mut p = read_json(&to.join(SANDBOX));
    let value =
        &mut setting_mut(&mut p, SANDBOX_AUDIO)["settingInstance"]["choiceSettingValue"]["value"];
    assert_eq!(*value, json!(format!("{SANDBOX_AUDIO}_0")));
    *value = json!(format!("{SANDBOX_AUDIO}_1"));
    write_json(&to.join(SANDBOX), &p);
    // A setting with children removed.
    let mut p = read_json(&to.join(TIMEZONE));
    p["settings"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["settingInstance"]["settingDefinitionId"] != TIMEZONE_NTP);
    write_json(&to.join(TIMEZONE), &p);
    // A classic value changed, given as text (type coercion must not hide it).
    let mut p = read_json(&to.join(PASSWORD));
    assert_eq!(p["passwordMinimumLength"], 8);
    p["passwordMinimumLength"] = json!(12);
    p["passwordMinutesOfInactivityBeforeLock"] = json!("15");
    write_json(&to.join(PASSWORD), &p);
    // A policy the tenant never had.
    std::fs::remove_file(to.join(NEVER_THERE)).unwrap();
    // Renamed with another version suffix.
    let mut p = read_json(&to.join(RENAMED_CLASSIC));
    p["displayName"] = json!("Win - OIB - WUfB Drivers - Ring 1 - Pilot - v3.2");
    write_json(&to.join(RENAMED_CLASSIC), &p);
    let mut p = read_json(&to.join(RENAMED_SC));
    p["name"] = json!("win - oib - sc - device security - d - config refresh - V4.0");
    write_json(&to.join(RENAMED_SC), &p);
}

fn kinds(list: &[Value]) -> Vec<(String, String, Option<String>)> {
    let mut k: Vec<_> = list
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["title"].as_str().unwrap().to_string(),
                f["settingPath"].as_str().map(str::to_string),
            )
        })
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_the_corpus_gives_exactly_the_expected_findings_and_follows_their_lifecycle() {
    let Some(corpus) = corpus_dir() else { return };
    // Arrange: a reference tenant (the corpus) and a drifted re-export of it.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Drift", "drift", "PRODUCTION")
        .await;
    let root = app.import_root.0.join("drift");
    copy_tree(&corpus, &root.join("reference"));
    drifted_copy(&corpus, &root.join("drifted"));
    let reference = tenant_at(&app, &admin, &ws, "Reference", "reference").await;
    let drifted = tenant_at(&app, &admin, &ws, "Drifted", "drifted").await;
    assert_eq!(
        app.sync(&admin, &reference, &[]).await["status"],
        "SUCCEEDED"
    );
    assert_eq!(app.sync(&admin, &drifted, &[]).await["status"], "SUCCEEDED");
    let created = app
        .gql_ok(
            &admin,
            "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id name currentVersion items { displayName templateId } sourceTenant { displayName } } } }",
            json!({"i": {"workspaceId": ws, "name": "OIB Windows", "description": "OpenIntuneBaseline", "sourceTenantId": reference}}),
        )
        .await;
    let baseline = created["createBaseline"]["baseline"].clone();
    assert_eq!(baseline["items"].as_array().unwrap().len(), 70);
    assert_eq!(baseline["currentVersion"], 1);
    let baseline_id = baseline["id"].as_str().unwrap().to_string();
    // A policy deleted in the tenant after the first sync.
    std::fs::remove_file(root.join("drifted").join(DELETED_LATER)).unwrap();
    let resync = app.sync(&admin, &drifted, &[]).await;
    assert_eq!(resync["counts"]["deleted"], 1, "{resync}");

    // Act: assigning queues one evaluation per tenant.
    let assigned = app
        .gql_ok(
            &admin,
            "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { assignments { tenant { displayName } } } operationRuns { kind status } } }",
            json!({"i": {"baselineId": baseline_id, "tenantIds": [reference, drifted]}}),
        )
        .await;
    assert_eq!(
        assigned["assignBaseline"]["operationRuns"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    wait_evaluations(&app, &admin, &ws, &reference, 1).await;
    let run = wait_evaluations(&app, &admin, &ws, &drifted, 1).await;
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("compared 70 baseline polic(ies)"),
        "{run}"
    );

    // Assert: the reference tenant has no drift at all; the drifted one exactly this.
    assert!(tenant_findings(&app, &admin, &reference, json!(null))
        .await
        .is_empty());
    let found = tenant_findings(&app, &admin, &drifted, json!(null)).await;
    let got = kinds(&found);
    let want = vec![
        ("GHOST_POLICY".to_string(), "Policy \"Win - OIB - WUfB - Ring 2 - UAT - v3.0\" was deleted from the tenant".to_string(), None),
        ("MISSING_POLICY".to_string(), "Policy \"Win - OIB - SC - Microsoft Store - U - Configuration - v3.3\" is missing from the tenant".to_string(), None),
        ("MISSING_SETTING".to_string(), format!("{TIMEZONE_NTP} is not configured in \"Win - OIB - SC - Device Security - D - Timezone - v3.4\""), Some(TIMEZONE_NTP.to_string())),
        ("SETTING_MISMATCH".to_string(), "passwordMinimumLength differs from the baseline in \"Win - OIB - Compliance - U - Password - v3.1\"".to_string(), Some("passwordMinimumLength".to_string())),
        ("SETTING_MISMATCH".to_string(), format!("{SANDBOX_AUDIO} differs from the baseline in \"Win - OIB - SC - Device Security - U - Windows Sandbox - v3.4\""), Some(SANDBOX_AUDIO.to_string())),
    ];
    let mut want = want;
    want.sort();
    assert_eq!(got, want, "{found:#?}");
    let by_path = |p: &str| {
        found
            .iter()
            .find(|f| f["settingPath"] == p)
            .unwrap()
            .clone()
    };
    let password = by_path("passwordMinimumLength");
    assert_eq!(password["expectedValue"], 8);
    assert_eq!(password["actualValue"], 12);
    assert_eq!(password["severity"], "HIGH");
    assert_eq!(password["status"], "OPEN");
    assert_eq!(
        password["policy"]["displayName"],
        "Win - OIB - Compliance - U - Password - v3.1"
    );
    let audio = by_path(SANDBOX_AUDIO);
    assert_eq!(audio["expectedValue"], format!("{SANDBOX_AUDIO}_0"));
    assert_eq!(audio["actualValue"], format!("{SANDBOX_AUDIO}_1"));
    let ntp = by_path(TIMEZONE_NTP);
    assert_eq!(ntp["expectedValue"], format!("{TIMEZONE_NTP}_1"));
    assert!(ntp["actualValue"].is_null());
    let ghost = found.iter().find(|f| f["kind"] == "GHOST_POLICY").unwrap();
    assert_eq!(ghost["policy"]["lifecycleState"], "DELETED");
    assert_eq!(ghost["actualValue"]["lifecycleState"], "DELETED");
    let missing = found
        .iter()
        .find(|f| f["kind"] == "MISSING_POLICY")
        .unwrap();
    assert!(missing["policy"].is_null());
    assert_eq!(
        missing["expectedValue"]["displayName"],
        "Win - OIB - SC - Microsoft Store - U - Configuration - v3.3"
    );
    assert_eq!(password["history"][0]["action"], "finding.detect");

    // Scores: the reference is compliant, the drifted tenant is not; trends end at today.
    let r = score(&app, &admin, &reference).await;
    assert_eq!(r["complianceScore"]["score"], 100, "{r}");
    let d = score(&app, &admin, &drifted).await;
    let first_score = d["complianceScore"]["score"].as_i64().unwrap();
    assert!(first_score < 100 && first_score > 50, "{d}");
    assert_eq!(d["complianceScore"]["openFindings"]["total"], 5);
    let trend = d["complianceTrend"].as_array().unwrap();
    assert_eq!(trend.len(), 7);
    assert_eq!(trend[6]["score"], first_score);
    assert!(
        trend[0]["score"].is_null(),
        "no snapshot before today: {trend:?}"
    );

    // Evaluating again: the same findings, no duplicates, lastSeenAt moves.
    app.gql_ok(
        &admin,
        "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { kind status } } }",
        json!({"i": {"tenantId": drifted}}),
    )
    .await;
    wait_evaluations(&app, &admin, &ws, &drifted, 2).await;
    let again = tenant_findings(&app, &admin, &drifted, json!(null)).await;
    assert_eq!(again.len(), 5);
    let again_password = again
        .iter()
        .find(|f| f["settingPath"] == "passwordMinimumLength")
        .unwrap();
    assert_eq!(again_password["id"], password["id"]);
    assert!(again_password["lastSeenAt"].as_str() > password["lastSeenAt"].as_str());
    assert_eq!(again_password["firstSeenAt"], password["firstSeenAt"]);

    // Fixing the value resolves its finding ("no longer detected") after the next sync.
    let file = root.join("drifted").join(PASSWORD);
    let mut p = read_json(&file);
    p["passwordMinimumLength"] = json!(8);
    write_json(&file, &p);
    assert_eq!(app.sync(&admin, &drifted, &[]).await["status"], "SUCCEEDED");
    wait_evaluations(&app, &admin, &ws, &drifted, 3).await;
    let resolved = tenant_findings(&app, &admin, &drifted, json!({"status": "RESOLVED"})).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["id"], password["id"]);
    assert_eq!(resolved[0]["resolution"], "no longer detected");
    assert!(resolved[0]["resolvedAt"].is_string());
    let better = score(&app, &admin, &drifted).await["complianceScore"]["score"]
        .as_i64()
        .unwrap();
    assert!(
        better > first_score,
        "fixing raises the score: {better} vs {first_score}"
    );

    // Breaking it again reopens the same finding.
    p["passwordMinimumLength"] = json!(6);
    write_json(&file, &p);
    assert_eq!(app.sync(&admin, &drifted, &[]).await["status"], "SUCCEEDED");
    wait_evaluations(&app, &admin, &ws, &drifted, 4).await;
    let open = tenant_findings(&app, &admin, &drifted, json!({"status": "OPEN"})).await;
    assert_eq!(open.len(), 5);
    let reopened = open.iter().find(|f| f["id"] == password["id"]).unwrap();
    assert_eq!(reopened["reopenCount"], 1);
    assert_eq!(reopened["actualValue"], 6);
    assert!(reopened["resolvedAt"].is_null());
    let actions: Vec<&str> = reopened["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["finding.detect", "finding.auto_resolve", "finding.reopen"]
    );

    // The workspace sees both tenants; its trend counts today's open findings.
    let w = app
        .gql_ok(
            &admin,
            "query($id: ID!) { workspace(id: $id) { findings(first: 10, orderBy: {field: SEVERITY, direction: DESC}) { totalCount edges { node { severity } } }
               complianceScore { score openFindings { total } } findingsTrend(days: 3) { date open { total high } }
               baselines { totalCount edges { node { name assignments { tenant { displayName } lastEvaluatedAt checkCount } } } } } }",
            json!({"id": ws}),
        )
        .await;
    let w = &w["workspace"];
    assert_eq!(w["findings"]["totalCount"], 5);
    let severities: Vec<&str> = w["findings"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["severity"].as_str().unwrap())
        .collect();
    let ranks: Vec<i32> = severities
        .iter()
        .map(|s| {
            ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
                .iter()
                .position(|x| x == s)
                .unwrap() as i32
        })
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "sorted by severity: {severities:?}"
    );
    assert_eq!(w["complianceScore"]["openFindings"]["total"], 5);
    let today = &w["findingsTrend"][2];
    assert_eq!(today["open"]["total"], 5);
    let checks = w["baselines"]["edges"][0]["node"]["assignments"][0]["checkCount"]
        .as_i64()
        .unwrap();
    assert!(checks > 70, "policies and settings are counted: {checks}");
}

/// The demo export's four policies as reference and target tenants of one workspace.
struct Demo {
    app: TestApp,
    admin: String,
    ws: String,
    reference: String,
    target: String,
    baseline: String,
    target_dir: PathBuf,
}

async fn demo() -> Demo {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app.create_workspace(&admin, "Demo", "demo", "TEST").await;
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/exports/northwind-hq");
    let root = app.import_root.0.join("demo");
    copy_tree(&demo, &root.join("ref"));
    copy_tree(&demo, &root.join("target"));
    let reference = tenant_at(&app, &admin, &ws, "Reference", "ref").await;
    let target = tenant_at(&app, &admin, &ws, "Target", "target").await;
    app.sync(&admin, &reference, &[]).await;
    let target_dir = root.join("target");
    let file = target_dir.join("CompliancePolicies/NW-Compliance-Password.json");
    let mut v = read_json(&file);
    v["passwordMinimumLength"] = json!(4);
    write_json(&file, &v);
    app.sync(&admin, &target, &[]).await;
    let baseline = app
        .gql_ok(
            &admin,
            "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"workspaceId": ws, "name": "Northwind", "sourceTenantId": reference}}),
        )
        .await["createBaseline"]["baseline"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(
        &admin,
        "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { id } } }",
        json!({"i": {"baselineId": baseline, "tenantIds": [target]}}),
    )
    .await;
    wait_evaluations(&app, &admin, &ws, &target, 1).await;
    Demo {
        app,
        admin,
        ws,
        reference,
        target,
        baseline,
        target_dir,
    }
}

async fn mutate(app: &TestApp, token: &str, name: &str, input: Value) -> Value {
    let (ty, fields) = match name {
        "commentOnFinding" => (
            "CommentOnFindingInput",
            "finding { status comments { author body } }",
        ),
        "assignFinding" => (
            "AssignFindingInput",
            "finding { status assignee { email } }",
        ),
        _ => (
            "FindingStepInput",
            "finding { status resolution history { action fromStatus toStatus comment actor } }",
        ),
    };
    app.gql(
        Some(token),
        &format!("mutation($i: {ty}!) {{ {name}(input: $i) {{ {fields} }} }}"),
        json!({"i": input}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_moves_findings_and_refuses_invalid_steps_with_conflict() {
    let d = demo().await;
    let (app, admin) = (&d.app, &d.admin);
    let found = tenant_findings(app, admin, &d.target, json!(null)).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let id = found[0]["id"].as_str().unwrap().to_string();
    assert_eq!(found[0]["expectedValue"], 12);
    assert_eq!(found[0]["actualValue"], 4);

    // Start cannot come from RESOLVED, triage only from OPEN.
    let r = mutate(
        app,
        admin,
        "triageFinding",
        json!({"findingId": id, "comment": "confirmed with the customer"}),
    )
    .await;
    assert_eq!(
        r["data"]["triageFinding"]["finding"]["status"], "TRIAGED",
        "{r}"
    );
    let r = mutate(app, admin, "triageFinding", json!({"findingId": id})).await;
    assert_eq!(error_code(&r), "CONFLICT", "{r}");
    assert!(r["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("TRIAGED"));

    // Assign to a member; a stranger is refused.
    app.grant(admin, &d.ws, "olga@msp.test", "OPERATOR").await;
    let olga = app
        .gql_ok(
            &app.token("olga@msp.test"),
            "{ viewer { user { email } } }",
            json!({}),
        )
        .await;
    assert_eq!(olga["viewer"]["user"]["email"], "olga@msp.test");
    let user_id = app
        .gql_ok(
            admin,
            "query($id: ID!) { workspace(id: $id) { members { user { id email } } } }",
            json!({"id": d.ws}),
        )
        .await["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "olga@msp.test")
        .unwrap()["user"]["id"]
        .clone();
    let r = mutate(
        app,
        admin,
        "assignFinding",
        json!({"findingId": id, "assigneeUserId": user_id}),
    )
    .await;
    assert_eq!(
        r["data"]["assignFinding"]["finding"]["assignee"]["email"], "olga@msp.test",
        "{r}"
    );
    let stranger = app
        .gql_ok(
            &app.token("stranger@else.test"),
            "{ viewer { user { id } } }",
            json!({}),
        )
        .await;
    let r = mutate(
        app,
        admin,
        "assignFinding",
        json!({"findingId": id, "assigneeUserId": stranger["viewer"]["user"]["id"]}),
    )
    .await;
    assert_eq!(
        error_code(&r),
        "BAD_USER_INPUT",
        "only members can be assignees: {r}"
    );
    let r = mutate(
        app,
        admin,
        "assignFinding",
        json!({"findingId": id, "assigneeUserId": "Olga@MSP.test"}),
    )
    .await;
    assert_eq!(
        r["data"]["assignFinding"]["finding"]["assignee"]["email"], "olga@msp.test",
        "by e-mail too: {r}"
    );
    let r = mutate(
        app,
        admin,
        "assignFinding",
        json!({"findingId": id, "assigneeUserId": "nope"}),
    )
    .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    let olga_token = app.token("olga@msp.test");
    let r = mutate(app, &olga_token, "startFinding", json!({"findingId": id})).await;
    assert_eq!(
        r["data"]["startFinding"]["finding"]["status"], "IN_PROGRESS",
        "{r}"
    );
    let r = mutate(
        app,
        &olga_token,
        "commentOnFinding",
        json!({"findingId": id, "body": "  "}),
    )
    .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let r = mutate(
        app,
        &olga_token,
        "commentOnFinding",
        json!({"findingId": id, "body": "Password=Hunter2Secret! is what they use"}),
    )
    .await;
    let body = r["data"]["commentOnFinding"]["finding"]["comments"][0]["body"]
        .as_str()
        .unwrap();
    assert!(
        !body.contains("Hunter2Secret"),
        "comments are redacted: {body}"
    );

    // Resolving by hand; the next evaluation re-checks and reopens.
    let r = mutate(
        app,
        &olga_token,
        "resolveFinding",
        json!({"findingId": id, "comment": "fixed in Intune"}),
    )
    .await;
    let f = &r["data"]["resolveFinding"]["finding"];
    assert_eq!(f["status"], "RESOLVED", "{r}");
    assert_eq!(
        f["resolution"],
        "resolved by user:olga@msp.test: fixed in Intune"
    );
    let r = mutate(app, &olga_token, "startFinding", json!({"findingId": id})).await;
    assert_eq!(error_code(&r), "CONFLICT");
    let r = mutate(
        app,
        &olga_token,
        "assignFinding",
        json!({"findingId": id, "assigneeUserId": null}),
    )
    .await;
    assert_eq!(error_code(&r), "CONFLICT", "no assigning resolved findings");
    app.gql_ok(
        admin,
        "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }",
        json!({"i": {"tenantId": d.target}}),
    )
    .await;
    wait_evaluations(app, admin, &d.ws, &d.target, 2).await;
    let after = tenant_findings(app, admin, &d.target, json!(null)).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], id);
    assert_eq!(after[0]["status"], "OPEN");
    assert_eq!(after[0]["reopenCount"], 1);
    let actions: Vec<&str> = after[0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "finding.detect",
            "finding.triage",
            "finding.assign",
            "finding.assign",
            "finding.start",
            "finding.comment",
            "finding.resolve",
            "finding.reopen"
        ]
    );

    // Every change is in the audit trail.
    let audit = app
        .gql_ok(admin, "query($id: ID!) { workspace(id: $id) { auditEvents(first: 100) { edges { node { action targetType } } } } }", json!({"id": d.ws}))
        .await;
    let logged: Vec<&str> = audit["workspace"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    for a in [
        "finding.triage",
        "finding.assign",
        "finding.start",
        "finding.comment",
        "finding.resolve",
        "drift.evaluate",
        "baseline.create",
        "baseline.assign",
    ] {
        assert!(logged.contains(&a), "{a} audited: {logged:?}");
    }

    // Fixing the tenant resolves it without anyone acting; unassigning resolves the rest.
    let file = d
        .target_dir
        .join("CompliancePolicies/NW-Compliance-Password.json");
    let mut v = read_json(&file);
    v["passwordMinimumLength"] = json!(12);
    write_json(&file, &v);
    app.sync(admin, &d.target, &[]).await;
    wait_evaluations(app, admin, &d.ws, &d.target, 3).await;
    let f = tenant_findings(app, admin, &d.target, json!(null)).await;
    assert_eq!(f[0]["status"], "RESOLVED");
    assert_eq!(f[0]["resolution"], "no longer detected");
    let _ = &d.reference;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_reads_triages_and_manages_and_strangers_learn_nothing() {
    let d = demo().await;
    let (app, admin) = (&d.app, &d.admin);
    let id = tenant_findings(app, admin, &d.target, json!(null)).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (email, role) in [
        ("ro@msp.test", "READONLY"),
        ("aud@msp.test", "AUDITOR"),
        ("op@msp.test", "OPERATOR"),
    ] {
        app.grant(admin, &d.ws, email, role).await;
    }
    // Readonly and auditor read findings and scores but cannot triage or manage.
    for email in ["ro@msp.test", "aud@msp.test"] {
        let t = app.token(email);
        assert_eq!(
            tenant_findings(app, &t, &d.target, json!(null)).await.len(),
            1
        );
        let r = mutate(app, &t, "triageFinding", json!({"findingId": id})).await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{email}: {r}");
        let r = app.gql(Some(&t), "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": d.target}})).await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{email}: {r}");
    }
    // The operator triages and evaluates but does not manage baselines.
    let op = app.token("op@msp.test");
    let r = mutate(app, &op, "triageFinding", json!({"findingId": id})).await;
    assert_eq!(
        r["data"]["triageFinding"]["finding"]["status"], "TRIAGED",
        "{r}"
    );
    let r = app.gql(Some(&op), "mutation($i: BaselineTenantsInput!) { unassignBaseline(input: $i) { baseline { id } } }", json!({"i": {"baselineId": d.baseline, "tenantIds": [d.target]}})).await;
    assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
    // No token: UNAUTHENTICATED before any input is looked at.
    let r = app
        .gql(
            None,
            "mutation($i: FindingStepInput!) { triageFinding(input: $i) { finding { id } } }",
            json!({"i": {"findingId": "!!"}}),
        )
        .await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED", "{r}");
    let r = app
        .gql(
            None,
            "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"workspaceId": "x", "name": ""}}),
        )
        .await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED", "{r}");
    // A stranger gets NOT_FOUND or null everywhere.
    let s = app.token("stranger@else.test");
    let r = mutate(app, &s, "triageFinding", json!({"findingId": id})).await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    let r = app
        .gql(
            Some(&s),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert!(r["data"]["node"].is_null(), "{r}");
    let r = app
        .gql(
            Some(&s),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": d.baseline}),
        )
        .await;
    assert!(r["data"]["node"].is_null(), "{r}");
    let r = app
        .gql(
            Some(&s),
            "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"baselineId": d.baseline, "tenantIds": [d.target]}}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    // node() finds findings and baselines for members.
    let r = app.gql_ok(&app.token("ro@msp.test"), "query($id: ID!, $b: ID!) { f: node(id: $id) { ... on Finding { kind } } b: node(id: $b) { ... on Baseline { name versions { version itemCount } } } }", json!({"id": id, "b": d.baseline})).await;
    assert_eq!(r["f"]["kind"], "SETTING_MISMATCH");
    assert_eq!(r["b"]["versions"][0]["itemCount"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_baseline_input_is_refused_with_codes_and_changes_nothing() {
    let d = demo().await;
    let (app, admin) = (&d.app, &d.admin);
    let other_ws = app.create_workspace(admin, "Other", "other", "TEST").await;
    let foreign = app
        .create_tenant(admin, &other_ws, "Foreign", &guid())
        .await;
    let create =
        "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id } } }";
    let cases = [
        (
            json!({"workspaceId": d.ws, "name": "  ", "sourceTenantId": d.reference}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"workspaceId": d.ws, "name": "Both", "sourceTenantId": d.reference, "policyIds": []}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"workspaceId": d.ws, "name": "Neither"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"workspaceId": d.ws, "name": "Empty", "policyIds": []}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"workspaceId": d.ws, "name": "Foreign", "sourceTenantId": foreign}),
            "NOT_FOUND",
        ),
        (
            json!({"workspaceId": d.ws, "name": "northwind", "sourceTenantId": d.reference}),
            "CONFLICT",
        ),
        (
            json!({"workspaceId": d.ws, "name": "Bad id", "sourceTenantId": d.ws}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"workspaceId": d.ws, "name": "Nul\u{0}", "sourceTenantId": d.reference}),
            "BAD_USER_INPUT",
        ),
    ];
    for (input, code) in cases {
        let r = app.gql(Some(admin), create, json!({"i": input})).await;
        assert_eq!(error_code(&r), code, "{input}: {r}");
    }
    let r = app
        .gql(
            Some(admin),
            "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"baselineId": d.baseline, "tenantIds": [foreign]}}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    let r = app.gql(Some(admin), "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": d.reference}})).await;
    assert_eq!(
        error_code(&r),
        "BAD_USER_INPUT",
        "no baseline assigned: {r}"
    );
    let count = app
        .gql_ok(
            admin,
            "query($id: ID!) { workspace(id: $id) { baselines { totalCount } } }",
            json!({"id": d.ws}),
        )
        .await;
    assert_eq!(
        count["workspace"]["baselines"]["totalCount"], 1,
        "nothing was created"
    );

    // Item rules: overrides and ignored paths change severities and what is compared.
    let items = app
        .gql_ok(
            admin,
            "query($id: ID!) { node(id: $id) { ... on Baseline { items { id displayName } } } }",
            json!({"id": d.baseline}),
        )
        .await;
    let item = items["node"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["displayName"] == "NW - Compliance - Password - v2.0")
        .unwrap()["id"]
        .clone();
    let rules = "mutation($i: SetBaselineItemRulesInput!) { setBaselineItemRules(input: $i) { baselineItem { severityOverrides { path severity } ignoredPaths } } }";
    let r = app.gql(Some(admin), rules, json!({"i": {"baselineItemId": item, "severityOverrides": [{"path": "passwordMinimumLength", "severity": "CRITICAL"}, {"path": "passwordMinimumLength", "severity": "LOW"}]}})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "duplicate path: {r}");
    let r = app.gql_ok(admin, rules, json!({"i": {"baselineItemId": item, "severityOverrides": [{"path": "passwordMinimumLength", "severity": "CRITICAL"}]}})).await;
    assert_eq!(
        r["setBaselineItemRules"]["baselineItem"]["severityOverrides"][0]["severity"],
        "CRITICAL"
    );
    app.gql_ok(admin, "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": d.target}})).await;
    wait_evaluations(app, admin, &d.ws, &d.target, 2).await;
    let f = tenant_findings(app, admin, &d.target, json!(null)).await;
    assert_eq!(f[0]["severity"], "CRITICAL");
    app.gql_ok(
        admin,
        rules,
        json!({"i": {"baselineItemId": item, "ignoredPaths": ["passwordMinimumLength"]}}),
    )
    .await;
    app.gql_ok(admin, "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": d.target}})).await;
    wait_evaluations(app, admin, &d.ws, &d.target, 3).await;
    let f = tenant_findings(app, admin, &d.target, json!({"status": "OPEN"})).await;
    assert!(f.is_empty(), "ignored paths are not compared: {f:?}");

    // A new version keeps the old one and the item rules (by lineage).
    let r = app
        .gql_ok(admin, "mutation($i: UpdateBaselineInput!) { updateBaseline(input: $i) { baseline { currentVersion versions { version } items { displayName ignoredPaths } } } }", json!({"i": {"baselineId": d.baseline, "name": "Northwind v2", "refreshFromSource": true}}))
        .await;
    let b = &r["updateBaseline"]["baseline"];
    assert_eq!(b["currentVersion"], 2);
    assert_eq!(b["versions"].as_array().unwrap().len(), 2);
    let carried = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["displayName"] == "NW - Compliance - Password - v2.0")
        .unwrap();
    assert_eq!(carried["ignoredPaths"], json!(["passwordMinimumLength"]));
    let r = app
        .gql(
            Some(admin),
            rules,
            json!({"i": {"baselineItemId": item, "ignoredPaths": []}}),
        )
        .await;
    assert_eq!(
        error_code(&r),
        "CONFLICT",
        "old versions do not change: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_makes_no_version_and_a_refresh_keeps_rules_when_source_policies_get_new_ids() {
    let d = demo().await;
    let (app, admin) = (&d.app, &d.admin);
    let r = app
        .gql_ok(admin, "mutation($i: UpdateBaselineInput!) { updateBaseline(input: $i) { baseline { name currentVersion } } }", json!({"i": {"baselineId": d.baseline, "name": "Renamed"}}))
        .await;
    assert_eq!(
        r["updateBaseline"]["baseline"]["currentVersion"], 1,
        "a rename is no new version"
    );
    assert_eq!(r["updateBaseline"]["baseline"]["name"], "Renamed");
    let r = app.gql(Some(admin), "mutation($i: UpdateBaselineInput!) { updateBaseline(input: $i) { baseline { name } } }", json!({"i": {"baselineId": d.baseline}})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "nothing to change: {r}");

    // Rules on the password item.
    let items = app
        .gql_ok(
            admin,
            "query($id: ID!) { node(id: $id) { ... on Baseline { items { id displayName } } } }",
            json!({"id": d.baseline}),
        )
        .await;
    let item = items["node"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["displayName"] == "NW - Compliance - Password - v2.0")
        .unwrap()["id"]
        .clone();
    let rules = "mutation($i: SetBaselineItemRulesInput!) { setBaselineItemRules(input: $i) { baselineItem { severityOverrides { path severity } ignoredPaths } } }";
    app.gql_ok(admin, rules, json!({"i": {"baselineItemId": item, "severityOverrides": [{"path": " passwordMinimumLength ", "severity": "CRITICAL"}]}})).await;
    let r = app
        .gql_ok(
            admin,
            rules,
            json!({"i": {"baselineItemId": item, "ignoredPaths": ["passwordExpirationDays "]}}),
        )
        .await;
    let got = &r["setBaselineItemRules"]["baselineItem"];
    assert_eq!(
        got["severityOverrides"],
        json!([{"path": "passwordMinimumLength", "severity": "CRITICAL"}]),
        "kept and trimmed"
    );
    assert_eq!(got["ignoredPaths"], json!(["passwordExpirationDays"]));
    wait_evaluations(app, admin, &d.ws, &d.target, 2).await;
    let f = tenant_findings(app, admin, &d.target, json!(null)).await;
    assert_eq!(
        f[0]["severity"], "CRITICAL",
        "a rules change queues the evaluation"
    );
    let finding_id = f[0]["id"].clone();

    // The reference tenant's policies come back with new ids (a restore).
    let ref_dir = d.app.import_root.0.join("demo/ref");
    for entry in std::fs::read_dir(&ref_dir).unwrap() {
        for file in std::fs::read_dir(entry.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let mut v = read_json(&path);
            v["id"] = json!(guid());
            write_json(&path, &v);
        }
    }
    app.sync(admin, &d.reference, &[]).await;
    let r = app
        .gql_ok(admin, "mutation($i: UpdateBaselineInput!) { updateBaseline(input: $i) { baseline { currentVersion items { displayName severityOverrides { severity } ignoredPaths sourcePolicy { lifecycleState } } } } }", json!({"i": {"baselineId": d.baseline, "refreshFromSource": true}}))
        .await;
    let b = &r["updateBaseline"]["baseline"];
    assert_eq!(b["currentVersion"], 2);
    assert_eq!(
        b["items"].as_array().unwrap().len(),
        4,
        "only the active copies"
    );
    let carried = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["displayName"] == "NW - Compliance - Password - v2.0")
        .unwrap();
    assert_eq!(
        carried["severityOverrides"][0]["severity"], "CRITICAL",
        "{carried}"
    );
    assert_eq!(carried["ignoredPaths"], json!(["passwordExpirationDays"]));
    assert_eq!(carried["sourcePolicy"]["lifecycleState"], "ACTIVE");
    wait_evaluations(app, admin, &d.ws, &d.target, 3).await;
    let f = tenant_findings(app, admin, &d.target, json!({"status": "OPEN"})).await;
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["id"], finding_id, "the same finding, not a new one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_queue_one_evaluation_and_unassigning_never_leaves_findings_open() {
    let d = demo().await;
    let (app, admin) = (&d.app, &d.admin);
    // Unassign racing the evaluation the assignment queued: nothing of the baseline stays open.
    for round in 0..4 {
        let assign = app.gql(
            Some(admin),
            "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"baselineId": d.baseline, "tenantIds": [d.reference, d.target]}}),
        );
        let r = assign.await;
        assert!(r.get("errors").is_none(), "{r}");
        let unassign = app.gql(Some(admin), "mutation($i: BaselineTenantsInput!) { unassignBaseline(input: $i) { baseline { id } } }", json!({"i": {"baselineId": d.baseline, "tenantIds": [d.target, d.reference]}}));
        let starts: Vec<_> = (0..4)
            .map(|_| app.gql(Some(admin), "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": d.target}})))
            .collect();
        let (u, s) = tokio::join!(unassign, futures_util::future::join_all(starts));
        assert!(u.get("errors").is_none(), "round {round}: {u}");
        for r in s {
            if r.get("errors").is_some() {
                assert!(
                    matches!(error_code(&r).as_str(), "CONFLICT" | "BAD_USER_INPUT"),
                    "round {round}: {r}"
                );
            }
        }
        wait_evaluations(app, admin, &d.ws, &d.target, 1).await;
        let open = tenant_findings(app, admin, &d.target, json!({"status": "OPEN"})).await;
        assert!(open.is_empty(), "round {round}: {open:#?}");
    }
    // Many starts at once: never two queued evaluations of one tenant.
    app.gql_ok(
        admin,
        "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { id } } }",
        json!({"i": {"baselineId": d.baseline, "tenantIds": [d.target]}}),
    )
    .await;
    let starts: Vec<_> = (0..12)
        .map(|_| app.gql(Some(admin), "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": d.target}})))
        .collect();
    for r in futures_util::future::join_all(starts).await {
        if r.get("errors").is_some() {
            assert_eq!(error_code(&r), "CONFLICT", "{r}");
        }
    }
    let mut conn = app.db.connect().await;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let dup: Vec<N> = diesel::sql_query("SELECT count(*) AS n FROM (SELECT fingerprint FROM findings GROUP BY workspace_id, fingerprint HAVING count(*) > 1) d")
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(dup[0].n, 0, "no duplicate findings");
    wait_evaluations(app, admin, &d.ws, &d.target, 1).await;
    let open = tenant_findings(app, admin, &d.target, json!({"status": "OPEN"})).await;
    assert_eq!(open.len(), 1, "the drift is back once assigned again");
    // The workspace's snapshot agrees with its live score.
    let w = app
        .gql_ok(admin, "query($id: ID!) { workspace(id: $id) { complianceScore { score openFindings { total } } complianceTrend(days: 1) { score } findingsTrend(days: 1) { open { total } } } }", json!({"id": d.ws}))
        .await;
    let w = &w["workspace"];
    assert_eq!(
        w["complianceTrend"][0]["score"], w["complianceScore"]["score"],
        "{w}"
    );
    assert_eq!(
        w["findingsTrend"][0]["open"]["total"], w["complianceScore"]["openFindings"]["total"],
        "{w}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_streams_its_progress_like_any_run() {
    let d = demo().await;
    let (app, admin) = (&d.app, &d.admin);
    let run = app
        .gql_ok(admin, "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id kind status } } }", json!({"i": {"tenantId": d.target}}))
        .await["startDriftEvaluation"]["operationRun"]
        .clone();
    assert_eq!(run["kind"], "DRIFT_EVALUATION");
    let mut client = WsClient::connect_with_token(app, "graphql-transport-ws", admin).await;
    client
        .subscribe(
            "p",
            "subscription($id: ID!) { operationRunProgress(id: $id) { kind status processed total message } }",
            json!({"id": run["id"]}),
        )
        .await;
    let last = loop {
        let msg = client.next().await.expect("stream ended early");
        assert_eq!(msg["type"], "next", "{msg}");
        let state = msg["payload"]["data"]["operationRunProgress"].clone();
        assert_eq!(state["kind"], "DRIFT_EVALUATION");
        if state["status"] == "SUCCEEDED" {
            break state;
        }
        assert!(
            matches!(state["status"].as_str(), Some("QUEUED" | "RUNNING")),
            "{state}"
        );
    };
    assert_eq!(last["processed"], 4);
    assert_eq!(last["total"], 4);
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .starts_with("compared 4 baseline polic(ies) of 1 baseline(s)"),
        "{last}"
    );
    assert_eq!(client.next().await.unwrap()["type"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_evaluates_a_tenant_and_says_why_when_it_cannot() {
    let d = demo().await;
    let (code, out, err) = run_cli(
        &d.app.db.url,
        &["evaluate", "--workspace", "demo", "--tenant", "Target"],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("SUCCEEDED: compared 4 baseline polic(ies) of 1 baseline(s)"),
        "{out}"
    );
    assert!(out.contains("1 still present"), "{out}");
    let (code, out, err) = run_cli(
        &d.app.db.url,
        &["evaluate", "--workspace", "demo", "--tenant", "Reference"],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no baseline is assigned"), "{err}");
    let (code, _, err) = run_cli(
        &d.app.db.url,
        &["evaluate", "--workspace", "nope", "--tenant", "Target"],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("no workspace"), "{err}");
    // The CLI's run is in the operations table like any other.
    let runs = d
        .app
        .gql_ok(&d.admin, "query($id: ID!) { workspace(id: $id) { operationRuns(filter: {kind: DRIFT_EVALUATION}) { edges { node { initiatedBy status } } } } }", json!({"id": d.ws}))
        .await;
    assert!(
        runs["workspace"]["operationRuns"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["initiatedBy"] == "system:cli"),
        "{runs}"
    );
}
