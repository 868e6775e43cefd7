//! Policy inventory from real Intune exports: import, versions, ghost lifecycle, guards,
//! broken files, path rules, the CLI import.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

const POLICIES: &str = "query($t: ID!, $f: PolicyFilter) { tenant(id: $t) { lastSyncedAt policies(first: 100, filter: $f) { totalCount edges { node { id displayName contractType platform lifecycleState deletedAt restoredAt versionCount payloadHash } } } } }";

async fn policies(app: &TestApp, token: &str, tenant: &str, filter: Value) -> Vec<Value> {
    let d = app
        .gql_ok(token, POLICIES, json!({"t": tenant, "f": filter}))
        .await;
    d["tenant"]["policies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn count_by_type(list: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for p in list {
        *m.entry(p["contractType"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_imports_with_the_right_contract_types_and_no_warnings() {
    let Some(corpus) = corpus_dir() else { return };
    let app = TestApp::spawn().await;
    copy_tree(&corpus, &app.import_root.0.join("inventory").join("oib"));
    let (admin, _ws, tenant) = app.tenant_with_export("oib").await;

    let run = app.sync(&admin, &tenant, &[]).await;

    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["warnings"], json!([]), "{run}");
    assert_eq!(run["counts"]["created"], 70);
    assert_eq!(run["affectedPolicyCount"], 70);
    assert_eq!(run["processed"], 70);
    let d = app
        .gql_ok(
            &admin,
            "query($t: ID!) { tenant(id: $t) { policies { totalCount } } }",
            json!({"t": tenant}),
        )
        .await;
    assert_eq!(d["tenant"]["policies"]["totalCount"], 70);
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d = app
            .gql_ok(&admin, "query($t: ID!, $a: String) { tenant(id: $t) { policies(first: 50, after: $a) { pageInfo { hasNextPage endCursor } edges { node { contractType variant platform } } } } }", json!({"t": tenant, "a": after}))
            .await;
        let conn = &d["tenant"]["policies"];
        all.extend(
            conn["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    let by_type = count_by_type(&all);
    assert_eq!(by_type["deviceManagement/configurationPolicies"], 59);
    assert_eq!(by_type["deviceManagement/deviceCompliancePolicies"], 4);
    assert_eq!(by_type["deviceManagement/deviceConfigurations"], 4);
    assert_eq!(by_type["deviceManagement/windowsDriverUpdateProfiles"], 3);
    assert_eq!(
        all.iter()
            .filter(|p| p["variant"] == "Windows update ring")
            .count(),
        3
    );

    // Known values, found by path.
    let timezone = app
        .gql_ok(&admin, "query($id: ID!, $f: PolicyFilter) { workspace(id: $id) { policies(filter: $f) { edges { node { platform settings(path: \"w32time_ntpserver\") { path definitionId value valueType } } } } } }",
            json!({"id": _ws, "f": {"search": "Timezone"}}))
        .await;
    let node = &timezone["workspace"]["policies"]["edges"][0]["node"];
    assert_eq!(node["platform"], "windows10");
    let s = &node["settings"][0];
    assert_eq!(s["value"], "time.windows.com", "{node}");
    assert_eq!(s["valueType"], "string");
    assert!(s["path"].as_str().unwrap().starts_with(
        "device_vendor_msft_policy_config_admx_w32time_w32time_policy_configure_ntpclient/"
    ));
    let password = app
        .gql_ok(&admin, "query($id: ID!, $f: PolicyFilter) { workspace(id: $id) { policies(filter: $f) { edges { node { settings(path: \"passwordMinimumLength\") { path value } } } } } }",
            json!({"id": _ws, "f": {"search": "Compliance - U - Password"}}))
        .await;
    assert_eq!(
        password["workspace"]["policies"]["edges"][0]["node"]["settings"][0],
        json!({"path": "passwordMinimumLength", "value": 8})
    );

    // Every stored payload is its file's JSON, value for value (it is kept once, as
    // compact text), and the counts of flattened settings agree with the settings.
    let mut files = std::collections::HashMap::new();
    for folder in std::fs::read_dir(&corpus).unwrap().flatten() {
        if !folder.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(folder.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|x| x == "json") {
                let bytes = std::fs::read(f.path()).unwrap();
                let text = tenantatlas::providers::export_dir::decode_text(&bytes).unwrap();
                let v: Value = serde_json::from_str(&text).unwrap();
                files.insert(v["id"].as_str().unwrap().to_string(), v);
            }
        }
    }
    let mut after: Option<String> = None;
    let mut compared = 0;
    loop {
        let d = app
            .gql_ok(&admin, "query($t: ID!, $a: String) { tenant(id: $t) { policies(first: 20, after: $a) { pageInfo { hasNextPage endCursor } edges { node { externalId payload settingCount settings { path } } } } } }", json!({"t": tenant, "a": after}))
            .await;
        let conn = &d["tenant"]["policies"];
        for e in conn["edges"].as_array().unwrap() {
            let node = &e["node"];
            let id = node["externalId"].as_str().unwrap();
            assert_eq!(&node["payload"], &files[id], "payload of {id}");
            assert_eq!(
                node["settingCount"].as_u64().unwrap() as usize,
                node["settings"].as_array().unwrap().len()
            );
            compared += 1;
        }
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(compared, 70);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reimporting_is_a_no_op_and_a_changed_file_makes_one_new_version() {
    let Some(corpus) = corpus_dir() else { return };
    let app = TestApp::spawn().await;
    let dir = app.import_root.0.join("inventory").join("oib");
    copy_tree(&corpus, &dir);
    let (admin, _ws, tenant) = app.tenant_with_export("oib").await;
    app.sync(&admin, &tenant, &[]).await;
    let before = policies(&app, &admin, &tenant, json!({})).await;

    // Re-import: nothing changes, no version, no row written.
    let max_updated = || async {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct M {
            #[diesel(sql_type = diesel::sql_types::Text)]
            m: String,
        }
        let mut conn = app.db.connect().await;
        let m: M = diesel::sql_query("SELECT max(updated_at)::text || '/' || (SELECT count(*) FROM policy_versions)::text AS m FROM policies")
            .get_result(&mut conn)
            .await
            .unwrap();
        m.m
    };
    let stamp_before = max_updated().await;
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(
        run["counts"],
        json!({"created": 0, "updated": 0, "unchanged": 70, "deleted": 0, "restored": 0})
    );
    assert_eq!(run["affectedPolicyCount"], 0);
    assert_eq!(
        max_updated().await,
        stamp_before,
        "no policy row or version written"
    );
    assert_eq!(policies(&app, &admin, &tenant, json!({})).await, before);

    // Change one value (and re-encode as UTF-8 with a BOM, with other metadata changed).
    let file = dir.join("CompliancePolicies/Win - OIB - Compliance - U - Password - v3.1.json");
    let bytes = std::fs::read(&file).unwrap();
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let text = String::from_utf16(&units).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["passwordMinimumLength"] = json!(14);
    v["lastModifiedDateTime"] = json!("2026-12-01T00:00:00Z");
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend(serde_json::to_vec_pretty(&v).unwrap());
    std::fs::write(&file, out).unwrap();

    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["counts"]["updated"], 1, "{run}");
    assert_eq!(run["counts"]["unchanged"], 69);
    let changed = policies(
        &app,
        &admin,
        &tenant,
        json!({"search": "Compliance - U - Password"}),
    )
    .await;
    assert_eq!(changed[0]["versionCount"], 2);
    let id = changed[0]["id"].as_str().unwrap();
    let d = app
        .gql_ok(&admin, "query($id: ID!) { node(id: $id) { ... on Policy { settings(path: \"passwordMinimumLength\") { value } versions { totalCount edges { node { version payloadHash payload } } } } } }", json!({"id": id}))
        .await;
    assert_eq!(d["node"]["settings"][0]["value"], 14);
    let versions = &d["node"]["versions"];
    assert_eq!(versions["totalCount"], 2);
    assert_eq!(versions["edges"][0]["node"]["version"], 2);
    assert_eq!(
        versions["edges"][1]["node"]["payload"]["passwordMinimumLength"], 8,
        "old versions are kept"
    );
    assert_ne!(
        versions["edges"][0]["node"]["payloadHash"],
        versions["edges"][1]["node"]["payloadHash"]
    );

    // Only metadata changed: no new version.
    v["lastModifiedDateTime"] = json!("2026-12-02T00:00:00Z");
    v["version"] = json!(99);
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(
        run["counts"]["updated"], 0,
        "metadata is not configuration: {run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_file_makes_a_ghost_policy_and_restoring_it_brings_it_back() {
    let Some(corpus) = corpus_dir() else { return };
    let app = TestApp::spawn().await;
    let dir = app.import_root.0.join("inventory").join("oib");
    copy_tree(&corpus, &dir);
    let (admin, ws, tenant) = app.tenant_with_export("oib").await;
    app.sync(&admin, &tenant, &[]).await;

    let file =
        dir.join("DriverUpdateProfiles/Win - OIB - WUfB Drivers - Ring 1 - Pilot - v3.0.json");
    let parked = app.import_root.0.join("inventory").join("parked.json");
    std::fs::rename(&file, &parked).unwrap();
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["counts"]["deleted"], 1, "{run}");
    let ghosts = policies(&app, &admin, &tenant, json!({"lifecycleState": "DELETED"})).await;
    assert_eq!(ghosts.len(), 1);
    assert_eq!(
        ghosts[0]["displayName"],
        "Win - OIB - WUfB Drivers - Ring 1 - Pilot - v3.0"
    );
    assert!(ghosts[0]["deletedAt"].is_string());
    let d = app
        .gql_ok(
            &admin,
            "query($id: ID!) { node(id: $id) { ... on Policy { payload } } }",
            json!({"id": ghosts[0]["id"]}),
        )
        .await;
    assert_eq!(
        d["node"]["payload"]["displayName"], "Win - OIB - WUfB Drivers - Ring 1 - Pilot - v3.0",
        "last snapshot kept"
    );

    std::fs::rename(&parked, &file).unwrap();
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["counts"]["restored"], 1, "{run}");
    let back = policies(&app, &admin, &tenant, json!({"search": "Drivers - Ring 1"})).await;
    assert_eq!(back[0]["lifecycleState"], "ACTIVE");
    assert!(back[0]["restoredAt"].is_string());
    assert_eq!(back[0]["versionCount"], 1, "same payload: no new version");

    let d = app.gql_ok(&admin, "query($id: ID!) { workspace(id: $id) { auditEvents(first: 100) { edges { node { action targetId } } } } }", json!({"id": ws})).await;
    let actions: Vec<&str> = d["workspace"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"policy.delete") && actions.contains(&"policy.restore"),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_type_that_comes_back_empty_is_suspect_until_confirmed() {
    let Some(corpus) = corpus_dir() else { return };
    let app = TestApp::spawn().await;
    let dir = app.import_root.0.join("inventory").join("oib");
    copy_tree(&corpus, &dir);
    let (admin, _ws, tenant) = app.tenant_with_export("oib").await;
    app.sync(&admin, &tenant, &[]).await;

    for f in std::fs::read_dir(dir.join("DriverUpdateProfiles")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["status"], "SUCCEEDED");
    assert_eq!(run["counts"]["deleted"], 0, "{run}");
    let w = &run["warnings"][0];
    assert_eq!(w["path"], "deviceManagement/windowsDriverUpdateProfiles");
    assert!(
        w["reason"].as_str().unwrap().contains("came back empty"),
        "{w}"
    );

    let run = app
        .sync(
            &admin,
            &tenant,
            &["deviceManagement/windowsDriverUpdateProfiles"],
        )
        .await;
    assert_eq!(run["counts"]["deleted"], 3, "{run}");

    // An unknown contract type in confirmEmptyTypes is refused.
    let resp = app
        .gql(Some(&admin), "mutation($i: StartInventorySyncInput!) { startInventorySync(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": tenant, "confirmEmptyTypes": ["nope"]}}))
        .await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_files_each_give_a_warning_and_the_rest_imports() {
    let app = TestApp::spawn().await;
    let dir = app.import_root.0.join("inventory").join("mixed");
    copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/exports/northwind-hq"),
        &dir,
    );
    copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken"),
        &dir.join("CompliancePolicies"),
    );
    // The same good policy as UTF-16 BE with BOM, in a folder of its own.
    let good =
        std::fs::read_to_string(dir.join("SettingsCatalog/NW-BitLocker-OS-Disk.json")).unwrap();
    let mut v: Value = serde_json::from_str(&good).unwrap();
    v["id"] = json!("11111111-2222-3333-4444-555555555555");
    v["name"] = json!("UTF-16 BE policy");
    let mut be = vec![0xFE, 0xFF];
    be.extend(
        serde_json::to_string(&v)
            .unwrap()
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes()),
    );
    std::fs::write(dir.join("SettingsCatalog/utf16be.json"), be).unwrap();
    let (admin, _ws, tenant) = app.tenant_with_export("mixed").await;

    let run = app.sync(&admin, &tenant, &[]).await;

    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["counts"]["created"], 5, "{run}");
    let warnings: Vec<(String, String)> = run["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["path"].as_str().unwrap().to_string(),
                w["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |file: &str| {
        warnings
            .iter()
            .find(|(p, _)| p.ends_with(file))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("no warning for {file}: {warnings:?}"))
    };
    assert!(reason("truncated.json").contains("truncated"));
    assert!(reason("empty.json").contains("empty"));
    assert!(reason("binary.json").contains("not text"));
    assert!(reason("unknown-type.json").contains("unknown policy type"));
    assert!(reason("utf16-without-bom.json").contains("byte-order mark"));
    // The broken files taint their folder's type: no deletions inferred for it.
    assert!(warnings
        .iter()
        .any(|(p, r)| p == "CompliancePolicies" && r.contains("no deletions")));
    let names: Vec<String> = policies(&app, &admin, &tenant, json!({}))
        .await
        .iter()
        .map(|p| p["displayName"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"UTF-16 BE policy".to_string()), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_directories_must_stay_inside_the_import_root() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Paths", "paths", "PRODUCTION")
        .await;
    let tenant = app.create_tenant(&admin, &ws, "HQ", &guid()).await;
    let outside = TempDir::new("tenantatlas-outside");
    std::fs::create_dir_all(app.import_root.0.join("paths").join("inside")).unwrap();
    std::os::unix::fs::symlink(&outside.0, app.import_root.0.join("paths").join("escape")).unwrap();
    let configure = "mutation($i: ConfigureExportDirectoryInput!) { configureExportDirectory(input: $i) { tenant { connection { kind path } } } }";

    for bad in [
        "../",
        "inside/../../etc",
        "/etc",
        outside.0.to_str().unwrap(),
        "escape",
        "missing",
        "",
    ] {
        let resp = app
            .gql(
                Some(&admin),
                configure,
                json!({"i": {"tenantId": tenant, "path": bad}}),
            )
            .await;
        assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{bad}: {resp}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], "path");
    }
    let d = app
        .gql_ok(
            &admin,
            configure,
            json!({"i": {"tenantId": tenant, "path": "inside"}}),
        )
        .await;
    assert_eq!(
        d["configureExportDirectory"]["tenant"]["connection"],
        json!({"kind": "EXPORT_DIRECTORY", "path": "inside"}),
        "stored relative to the workspace's folder, no server path"
    );

    // Another workspace's exports are out of reach, by relative or absolute path.
    app.create_workspace(&admin, "Other", "other", "TEST").await;
    let theirs = app.import_root.0.join("other").join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    for bad in ["../other/theirs", theirs.to_str().unwrap()] {
        let resp = app
            .gql(
                Some(&admin),
                configure,
                json!({"i": {"tenantId": tenant, "path": bad}}),
            )
            .await;
        assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{bad}: {resp}");
    }

    // A sync without a connection is refused up front.
    let other = app
        .create_tenant(&admin, &ws, "No connection", &guid())
        .await;
    let resp = app
        .gql(Some(&admin), "mutation($i: StartInventorySyncInput!) { startInventorySync(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": other}}))
        .await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT");

    // A connection whose folder became a symlink out of the root fails the run, safely.
    std::fs::remove_dir(app.import_root.0.join("paths").join("inside")).unwrap();
    std::os::unix::fs::symlink(&outside.0, app.import_root.0.join("paths").join("inside")).unwrap();
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["status"], "FAILED");
    assert!(
        run["error"].as_str().unwrap().contains("import root"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_a_folder_with_a_summary() {
    let Some(corpus) = corpus_dir() else { return };
    let db = TestDb::new().await;
    let (code, out, err) = run_cli(
        &db.url,
        &[
            "import",
            "--workspace",
            "acme",
            "--tenant",
            "Acme HQ",
            corpus.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "SUCCEEDED: 70 created, 0 updated, 0 unchanged, 0 deleted, 0 restored, 0 warning(s)"
        ),
        "{out}"
    );
    let (code, out, _) = run_cli(
        &db.url,
        &[
            "import",
            "--workspace",
            "acme",
            "--tenant",
            "Acme HQ",
            corpus.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.contains("0 created, 0 updated, 70 unchanged"), "{out}");
    // The runs are in the operations table like any other.
    let app = TestApp::spawn_on(db).await;
    let admin = app.admin_token().await;
    let d = app.gql_ok(&admin, "{ workspace(slug: \"acme\") { operationRuns { totalCount edges { node { status initiatedBy affectedPolicyCount } } } } }", json!({})).await;
    assert_eq!(d["workspace"]["operationRuns"]["totalCount"], 2);
    assert_eq!(
        d["workspace"]["operationRuns"]["edges"][1]["node"],
        json!({"status": "SUCCEEDED", "initiatedBy": "system:cli", "affectedPolicyCount": 70})
    );
    let (code, _, err) = run_cli(
        &app.db.url,
        &[
            "import",
            "--workspace",
            "acme",
            "--tenant",
            "Acme HQ",
            "/definitely/not/here",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("not a directory"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_per_tenant_at_a_time_and_odd_files_never_hang_or_fail_a_run() {
    // No workers: the first run stays queued, so the second start must be refused.
    let app = TestApp::spawn_configured(TestDb::new().await, |c| c.jobs.workers = 0).await;
    let dir = app.import_root.0.join("inventory").join("odd");
    copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/exports/northwind-hq"),
        &dir,
    );
    // A FIFO named like an export (reading it would block forever) and a NUL escape.
    let fifo = dir.join("CompliancePolicies/pipe.json");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::write(
        dir.join("DeviceConfiguration/nul.json"),
        r##"{"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "id": "n1", "displayName": "a\u0000b"}"##,
    )
    .unwrap();
    let (admin, _ws, tenant) = app.tenant_with_export("odd").await;
    let first = app.start_sync(&admin, &tenant, &[]).await;
    let resp = app
        .gql(Some(&admin), "mutation($i: StartInventorySyncInput!) { startInventorySync(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": tenant}}))
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");

    // A worker process picks the queued run up.
    let (worker, _ctx) = app.spawn_sibling().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));
    let run = app.wait_run(&admin, &first).await;
    let _ = stop.send(());
    let _ = handle.await;

    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["counts"]["created"], 4);
    let reasons: Vec<String> = run["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| format!("{}: {}", w["path"], w["reason"]))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("pipe.json") && r.contains("not a regular file")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("nul.json") && r.contains("NUL")),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absences_are_deletions_only_where_the_folder_was_listed_completely() {
    let Some(corpus) = corpus_dir() else { return };
    let app = TestApp::spawn().await;
    let dir = app.import_root.0.join("inventory").join("oib");
    copy_tree(&corpus, &dir);
    let (admin, _ws, tenant) = app.tenant_with_export("oib").await;
    app.sync(&admin, &tenant, &[]).await;

    // A whole folder gone while another folder of the same type remains: nothing deleted.
    let parked = app.import_root.0.join("inventory").join("parked");
    std::fs::rename(dir.join("UpdatePolicies"), &parked).unwrap();
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["counts"]["deleted"], 0, "{run}");
    assert!(
        run["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["path"] == "UpdatePolicies"
                && w["reason"].as_str().unwrap().contains("absent")),
        "{run}"
    );
    std::fs::rename(&parked, dir.join("UpdatePolicies")).unwrap();

    // A file replaced by a symlink out of the folder, and a broken file: no deletion.
    let victim =
        dir.join("SettingsCatalog/Win - OIB - SC - Device Security - D - Timezone - v3.4.json");
    let outside = TempDir::new("tenantatlas-outside");
    std::fs::rename(&victim, outside.0.join("moved.json")).unwrap();
    std::os::unix::fs::symlink(outside.0.join("moved.json"), &victim).unwrap();
    std::fs::write(
        dir.join("CompliancePolicies/Win - OIB - Compliance - U - Password - v3.1.json"),
        b"{ truncated",
    )
    .unwrap();
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["counts"]["deleted"], 0, "{run}");
    assert_eq!(run["status"], "SUCCEEDED");
    let ghosts = policies(&app, &admin, &tenant, json!({"lifecycleState": "DELETED"})).await;
    assert!(ghosts.is_empty(), "{ghosts:?}");
}
