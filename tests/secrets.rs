//! Secret classification and redaction, end to end: the regression corpus in
//! `tests/fixtures/secrets/` (real-looking fake secrets in every known place, plus
//! look-alikes) is imported through GraphQL and the CLI; no secret may appear in any text
//! or JSON column of any table, in the CLI's log output or in any API response, every
//! look-alike stays as it was, and a changed secret makes a new version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use common::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use tenantatlas::domain::roles::Role;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets")
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("manifest.json")).unwrap())
        .unwrap()
}

fn file_json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(rel)).unwrap()).unwrap()
}

const POLICY_FIELDS: &str = "id externalId displayName contractType payload redactionCount secretFields { path classification source fingerprint maskedAtSource } settings { path value valueType } versions { totalCount edges { node { version payload payloadHash secretFields { path classification fingerprint } secretChanges { path classification change } } } }";

/// Every policy of the workspace, with everything the API shows about it, keyed by the
/// Intune id.
async fn all_policies(
    app: &TestApp,
    token: &str,
    ws: &str,
) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let d = app
            .gql_ok(token, &format!("query($id: ID!, $a: String) {{ workspace(id: $id) {{ policies(first: 10, after: $a) {{ pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {POLICY_FIELDS} }} }} }} }} }}"), json!({"id": ws, "a": after}))
            .await;
        let conn = &d["workspace"]["policies"];
        for e in conn["edges"].as_array().unwrap() {
            out.insert(
                e["node"]["externalId"].as_str().unwrap().to_string(),
                e["node"].clone(),
            );
        }
        if conn["pageInfo"]["hasNextPage"] == false {
            return out;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
}

/// Every text, varchar, json and jsonb column of every table, as `table.column`.
async fn text_columns(app: &TestApp) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct Col {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
    }
    let mut conn = app.db.connect().await;
    let cols: Vec<Col> = diesel::sql_query(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
           AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'character')",
    )
    .load(&mut conn)
    .await
    .unwrap();
    cols.into_iter()
        .map(|c| (c.table_name, c.column_name))
        .collect()
}

/// Columns (of `cols`) whose text contains `needle`.
async fn columns_containing(app: &TestApp, cols: &[(String, String)], needle: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect().await;
    let mut hits = Vec::new();
    for (t, c) in cols {
        let n: N = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM \"{t}\" WHERE strpos(\"{c}\"::text, $1) > 0"
        ))
        .bind::<diesel::sql_types::Text, _>(needle)
        .get_result(&mut conn)
        .await
        .unwrap();
        if n.n > 0 {
            hits.push(format!("{t}.{c}"));
        }
    }
    hits
}

fn decoded(v: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_never_stored_logged_or_returned_and_look_alikes_stay() {
    let app = TestApp::spawn().await;
    copy_tree(
        &fixtures().join("export"),
        &app.import_root.0.join("inventory").join("secrets"),
    );
    let (admin, ws, tenant) = app.tenant_with_export("secrets").await;
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["warnings"], json!([]), "{run}");
    assert_eq!(run["counts"]["created"], 22, "{run}");

    // The same files through the CLI, with debug logging, into a second workspace.
    let (code, stdout, stderr) = run_cli_env(
        &app.db.url,
        &[
            "import",
            "--workspace",
            "cli",
            "--tenant",
            "CLI",
            fixtures().join("export").to_str().unwrap(),
        ],
        &[("RUST_LOG", "debug")],
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let logs = format!("{stdout}\n{stderr}");

    let policies = all_policies(&app, &admin, &ws).await;
    assert_eq!(policies.len(), 22);
    let inventory = app
        .gql_ok(&admin, "query($id: ID!) { workspace(id: $id) { secretInventory(first: 100) { totalCount edges { node { policy { externalId } classifications redactionCount secretFields { path classification source } } } } auditEvents(first: 100) { edges { node { action before after } } } } }", json!({"id": ws}))
        .await;
    let responses = format!(
        "{}\n{}\n{}",
        serde_json::to_string(&policies).unwrap(),
        inventory,
        run
    );
    let cols = text_columns(&app).await;
    assert!(cols
        .iter()
        .any(|(t, c)| t == "policy_versions" && c == "payload"));
    assert!(cols
        .iter()
        .any(|(t, c)| t == "audit_events" && c == "after"));

    let m = manifest();
    let mut with_secrets = std::collections::BTreeSet::new();
    for s in m["secrets"].as_array().unwrap() {
        let value = s["value"].as_str().unwrap();
        let file = file_json(s["file"].as_str().unwrap());
        let id = file["id"].as_str().unwrap();
        with_secrets.insert(id.to_string());
        let policy = &policies[id];
        assert!(
            policy["redactionCount"].as_i64().unwrap() >= 1,
            "{}: {policy}",
            s["file"]
        );
        assert!(
            !responses.contains(value),
            "API response holds {value} ({})",
            s["file"]
        );
        assert!(!logs.contains(value), "log output holds {value}");
        let hits = columns_containing(&app, &cols, value).await;
        assert!(
            hits.is_empty(),
            "{value} ({}) stored in {hits:?}",
            s["file"]
        );
        let classification = s["classification"].as_str().unwrap();
        let classes: Vec<&str> = policy["secretFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["classification"].as_str().unwrap())
            .collect();
        if classification == "pattern" {
            assert!(
                classes.iter().any(|c| c.starts_with("pattern.")),
                "{}: {classes:?}",
                s["file"]
            );
        } else {
            assert!(
                classes.contains(&classification),
                "{}: {classification} not in {classes:?}",
                s["file"]
            );
        }
        // Base64 content is decoded, redacted inside and encoded again.
        if s["encoded"] == true {
            let field = policy["payload"]
                .pointer(s["field"].as_str().unwrap())
                .unwrap();
            let text = decoded(field);
            assert!(!text.contains(value), "{}", s["file"]);
            assert!(text.contains("[REDACTED:pattern."), "{}: {text}", s["file"]);
        } else {
            let marker = policy["payload"]
                .pointer(s["field"].as_str().unwrap())
                .unwrap();
            if marker.is_object() {
                assert_eq!(marker["@redacted"], true, "{marker}");
                assert!(marker["fingerprint"]
                    .as_str()
                    .unwrap()
                    .starts_with("hmac-sha256:"));
            } else {
                assert!(marker.as_str().unwrap().contains("[REDACTED:"), "{marker}");
            }
        }
    }
    assert_eq!(
        inventory["workspace"]["secretInventory"]["totalCount"],
        with_secrets.len(),
        "{inventory}"
    );

    // Look-alikes are untouched, in the payload as exported.
    for l in m["lookalikes"].as_array().unwrap() {
        let file = file_json(l["file"].as_str().unwrap());
        let id = file["id"].as_str().unwrap();
        let pointer = l["field"].as_str().unwrap();
        let stored = policies[id]["payload"].pointer(pointer).unwrap();
        assert_eq!(
            stored,
            file.pointer(pointer).unwrap(),
            "{} {pointer}",
            l["file"]
        );
        assert!(stored.to_string().contains(
            &serde_json::to_string(l["value"].as_str().unwrap())
                .unwrap()
                .trim_matches('"')
                .to_string()
        ));
        if !with_secrets.contains(id) {
            assert_eq!(policies[id]["redactionCount"], 0, "{}", l["file"]);
            assert_eq!(policies[id]["secretFields"], json!([]), "{}", l["file"]);
        }
    }
    for l in m["encoded_lookalikes"].as_array().unwrap() {
        let file = file_json(l["file"].as_str().unwrap());
        let id = file["id"].as_str().unwrap();
        let text = decoded(
            policies[id]["payload"]
                .pointer(l["field"].as_str().unwrap())
                .unwrap(),
        );
        assert!(
            text.contains(l["value"].as_str().unwrap()),
            "{}: {text}",
            l["file"]
        );
    }

    // The inventory needs its own capability: readonly does not have it.
    let ws_id = workspace_uuid(&ws);
    app.db_grant("ro@secrets.test", Role::Readonly, Some(ws_id))
        .await;
    let ro = app.token("ro@secrets.test");
    let resp = app
        .gql(
            Some(&ro),
            "query($id: ID!) { workspace(id: $id) { secretInventory { totalCount } } }",
            json!({"id": ws}),
        )
        .await;
    assert_eq!(error_code(&resp), "FORBIDDEN", "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_secret_makes_a_new_version_without_revealing_either_value() {
    let app = TestApp::spawn().await;
    let dir = app.import_root.0.join("inventory").join("secrets");
    copy_tree(&fixtures().join("export"), &dir);
    let (admin, ws, tenant) = app.tenant_with_export("secrets").await;
    app.sync(&admin, &tenant, &[]).await;

    // The same files again: fingerprints are stable, nothing changes.
    let again = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(again["counts"]["unchanged"], 22, "{again}");

    let m = manifest();
    let changed = &m["changed"];
    let original: &str = changed["original_file"].as_str().unwrap();
    std::fs::copy(
        fixtures().join(changed["file"].as_str().unwrap()),
        dir.join(original.trim_start_matches("export/")),
    )
    .unwrap();
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["counts"]["updated"], 1, "{run}");

    let id = file_json(original)["id"].as_str().unwrap().to_string();
    let policy = all_policies(&app, &admin, &ws).await.remove(&id).unwrap();
    let versions = policy["versions"]["edges"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let (new, old) = (&versions[0]["node"], &versions[1]["node"]);
    assert_eq!(
        new["secretChanges"],
        json!([{"path": "preSharedKey", "classification": "wifi.pre_shared_key", "change": "CHANGED"}])
    );
    assert_eq!(old["secretChanges"], json!([]));
    assert_ne!(
        new["secretFields"][0]["fingerprint"],
        old["secretFields"][0]["fingerprint"]
    );
    assert_ne!(new["payloadHash"], old["payloadHash"]);

    let events = app
        .gql_ok(&admin, "query($id: ID!) { workspace(id: $id) { auditEvents(first: 100) { edges { node { action after } } } } }", json!({"id": ws}))
        .await;
    let text = events.to_string();
    assert!(text.contains("policy.secret_change"), "{text}");
    let cols = text_columns(&app).await;
    for value in [
        changed["value"].as_str().unwrap(),
        changed["original_value"].as_str().unwrap(),
    ] {
        assert!(!text.contains(value));
        assert!(!policy.to_string().contains(value));
        assert!(
            columns_containing(&app, &cols, value).await.is_empty(),
            "{value} stored"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_cannot_smuggle_a_secret_past_redaction() {
    // JSON parsers keep the last of duplicate keys: the stored text must be the parsed
    // (and redacted) payload, not the file's text.
    let app = TestApp::spawn().await;
    let dir = app
        .import_root
        .0
        .join("inventory")
        .join("dup")
        .join("DeviceConfiguration");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("wifi.json"),
        r##"{"@odata.type": "#microsoft.graph.windowsWifiConfiguration", "id": "9b1f6f3c-0000-4000-8000-000000000001", "displayName": "Dup",
            "description": "x", "description": "pwd=Dup-Hidden-Secret-771 here", "preSharedKey": "Dup-First-Secret-9931", "preSharedKey": "****"}"##,
    )
    .unwrap();
    let (admin, ws, tenant) = app.tenant_with_export("dup").await;
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let cols = text_columns(&app).await;
    for secret in ["Dup-First-Secret-9931", "Dup-Hidden-Secret-771"] {
        assert!(
            columns_containing(&app, &cols, secret).await.is_empty(),
            "{secret} stored"
        );
    }
    let p = all_policies(&app, &admin, &ws).await;
    let policy = p.values().next().unwrap();
    assert_eq!(
        policy["payload"]["preSharedKey"]["maskedAtSource"], true,
        "{policy}"
    );
    assert_eq!(policy["redactionCount"], 1, "{policy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_has_no_secrets_and_produces_no_redactions() {
    let Some(corpus) = corpus_dir() else { return };
    let app = TestApp::spawn().await;
    copy_tree(&corpus, &app.import_root.0.join("inventory").join("oib"));
    let (admin, ws, tenant) = app.tenant_with_export("oib").await;
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["counts"]["created"], 70, "{run}");
    let d = app
        .gql_ok(&admin, "query($id: ID!) { workspace(id: $id) { secretInventory { totalCount edges { node { policy { displayName } secretFields { path classification } } } } policies(first: 100) { edges { node { redactionCount } } } } }", json!({"id": ws}))
        .await;
    assert_eq!(
        d["workspace"]["secretInventory"]["totalCount"], 0,
        "false positives: {d}"
    );
    let redactions: i64 = d["workspace"]["policies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["redactionCount"].as_i64().unwrap())
        .sum();
    assert_eq!(redactions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_export_shows_one_redacted_secret() {
    let app = TestApp::spawn().await;
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/exports/northwind-hq");
    let (code, stdout, stderr) = run_cli(
        &app.db.url,
        &[
            "import",
            "--workspace",
            "demo",
            "--tenant",
            "Demo",
            demo.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let cols = text_columns(&app).await;
    assert!(columns_containing(&app, &cols, "Demo-Kiosk-Unlock-4711")
        .await
        .is_empty());
    assert!(!columns_containing(&app, &cols, "oma.encrypted")
        .await
        .is_empty());
}
