//! The command line: token, grant, revoke and print-schema against real databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Polls `check` until it returns true (the server learns CLI grants through NOTIFY).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + TIMEOUT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_revoke_at_the_command_line_reach_the_running_server() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    let (code, out, _) = run_cli(
        &app.db.url,
        &["token", "--user", "Ann@Contoso.test", "--ttl", "10m"],
    )
    .await;
    assert_eq!(code, 0);
    let ann = out.trim().to_string();
    let count = |token: String| {
        let app = &app;
        async move {
            let d = app
                .gql_ok(&token, "{ workspaces { totalCount } }", json!({}))
                .await;
            d["workspaces"]["totalCount"].as_i64().unwrap()
        }
    };
    assert_eq!(count(ann.clone()).await, 0);

    let (code, out, err) = run_cli(
        &app.db.url,
        &[
            "grant",
            "--user",
            "ann@contoso.test",
            "--role",
            "auditor",
            "--workspace",
            "contoso",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("granted auditor to ann@contoso.test in contoso"));
    eventually("the grant", || async { count(ann.clone()).await == 1 }).await;

    let (code, _, _) = run_cli(
        &app.db.url,
        &[
            "revoke",
            "--user",
            "ann@contoso.test",
            "--role",
            "auditor",
            "--workspace",
            "contoso",
        ],
    )
    .await;
    assert_eq!(code, 0);
    eventually("the revoke", || async { count(ann.clone()).await == 0 }).await;

    // A platform role with '*'.
    let (code, _, err) = run_cli(
        &app.db.url,
        &[
            "grant",
            "--user",
            "ops@msp.test",
            "--role",
            "platform_operator",
            "--workspace",
            "*",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let ops = app.token("ops@msp.test");
    eventually("the platform grant", || async {
        count(ops.clone()).await == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_refuses_unknown_roles_workspaces_and_mismatched_scopes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_workspace(&admin, "Contoso", "contoso", "PRODUCTION")
        .await;
    for (args, expect) in [
        (
            vec!["--role", "root", "--workspace", "contoso"],
            "unknown role",
        ),
        (
            vec!["--role", "owner", "--workspace", "nope"],
            "no workspace with slug",
        ),
        (
            vec!["--role", "owner", "--workspace", "*"],
            "workspace role",
        ),
        (
            vec!["--role", "platform_admin", "--workspace", "contoso"],
            "platform role",
        ),
    ] {
        let mut all = vec!["grant", "--user", "x@contoso.test"];
        all.extend(args);
        let (code, _, err) = run_cli(&app.db.url, &all).await;
        assert_ne!(code, 0);
        assert!(err.contains(expect), "{err}");
        assert_eq!(err.trim().lines().count(), 1);
    }
    let (code, _, err) = run_cli(
        &app.db.url,
        &[
            "grant",
            "--user",
            "not-an-email",
            "--role",
            "owner",
            "--workspace",
            "contoso",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("e-mail"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_secret_token_and_serve_agree_through_the_stored_one() {
    let db = TestDb::unborn();
    let out = tokio::process::Command::new(bin())
        .args(["token", "--user", "ann@contoso.test"])
        .env("DATABASE_URL", &db.url)
        .env_remove("TENANTATLAS_JWT_SECRET")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let mut config = test_config(&db.url);
    config.jwt.secret = None;
    let ctx = tenantatlas::build_context(&config).await.unwrap();
    assert_eq!(ctx.tokens.verify(&token).unwrap(), "ann@contoso.test");
    // The secret is kept out of every API surface; it is only in server_settings.
    drop(ctx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_schema_writes_the_committed_sdl() {
    let (code, out, _) = run_cli("postgres://postgres@127.0.0.1:1/unused", &["print-schema"]).await;
    assert_eq!(code, 0, "print-schema needs no database");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(out, committed);
    let _: Value = json!(null);
}
