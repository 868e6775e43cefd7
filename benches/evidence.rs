//! Build time and peak RSS of an evidence pack for 10 tenants x 70 policies (the real
//! corpus, re-exported per tenant), and for 10 tenants x 700 policies to show that the
//! build streams: its memory does not grow with the number of policies.
//!
//!   cargo bench --bench evidence
//!
//! Against PostgreSQL (`TENANTATLAS_BENCH_SERVER`, default
//! `postgres://postgres@127.0.0.1:5432`; a throwaway database is created and dropped).
//! Every tenant is imported, a baseline of tenant 0 is assigned to the others and
//! evaluated (every 4th tenant drifts), then the pack is built by the same code a worker
//! runs. Peak RSS is reset just before the build (`/proc/self/clear_refs`), so the figure
//! is the build's own peak, not the import's.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Instant;

use common::*;
use serde_json::{json, Value};
use tenantatlas::{
    auth::Principal,
    authz::Access,
    domain::ids::{TenantId, WorkspaceId},
    service,
};

const TENANTS: usize = 10;

/// `copies` copies of the corpus for tenant `t`, each policy with its own id and name.
fn tenant_files(
    corpus: &[(String, String, Value)],
    t: usize,
    copies: usize,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for copy in 0..copies {
        for (i, (folder, file, v)) in corpus.iter().enumerate() {
            let mut v = reexport(v, t * 1000 + copy);
            if copy > 0 {
                for key in ["name", "displayName"] {
                    if let Some(Value::String(s)) = v.get_mut(key) {
                        *s = format!("{s} (copy {copy})");
                    }
                }
            }
            if t % 4 == 1 && i % 23 == 0 {
                v["description"] = json!("changed by the bench");
            }
            out.push((
                folder.clone(),
                format!("{copy}-{file}"),
                serde_json::to_string(&v).unwrap(),
            ));
        }
    }
    out
}

async fn run(corpus: &[(String, String, Value)], copies: usize) {
    let server = std::env::var("TENANTATLAS_BENCH_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("tenantatlas_bench_evidence_{}_{copies}", std::process::id());
    let data = std::env::temp_dir().join(&name);
    let mut config = tenantatlas::config::Config::new(format!("{server}/{name}"));
    config.jobs.workers = 0;
    config.data_dir = data.join("data");
    let app = match tenantatlas::build_context(&config).await {
        Ok(app) => app,
        Err(e) => {
            println!("skipped: PostgreSQL not reachable at {server} ({e})");
            return;
        }
    };
    let access = Access::new(Principal::System("bench"), app.authz.clone());
    let ws = service::workspaces::create_workspace(
        &app,
        &access,
        "Bench",
        "bench",
        "TEST".parse().unwrap(),
    )
    .await
    .unwrap();
    let ws_id = WorkspaceId(ws.id);
    let start = Instant::now();
    let mut ids: Vec<TenantId> = Vec::new();
    for t in 0..TENANTS {
        let files = tenant_files(corpus, t, copies);
        let dir = data.join(format!("t{t}"));
        ids.push(import_tenant(&app, &access, ws_id, &format!("Tenant {t}"), &dir, &files).await);
    }
    let policies = TENANTS * copies * corpus.len();
    println!(
        "{TENANTS} tenants x {} policies: imported {policies} policies in {:.1} s",
        copies * corpus.len(),
        start.elapsed().as_secs_f64()
    );
    let baseline = service::baselines::create_baseline(
        &app,
        &access,
        ws_id,
        "OIB",
        None,
        service::baselines::BaselineSource::Tenant(ids[0]),
    )
    .await
    .unwrap();
    let others: Vec<uuid::Uuid> = ids[1..].iter().map(|t| t.0).collect();
    service::baselines::assign_baseline(&app, &access, baseline.id, &others)
        .await
        .unwrap();
    for t in &ids[1..] {
        service::drift::evaluate_tenant(&app, ws_id, *t, None, "system:bench", &mut Quiet)
            .await
            .unwrap();
    }

    let now = chrono::Utc::now();
    let (pack, run) = service::evidence::create_evidence_pack(
        &app,
        &access,
        service::evidence::NewPackRequest {
            workspace: ws_id,
            title: "Bench".into(),
            tenants: ids.iter().map(|t| t.0).collect(),
            period_start: now - chrono::Duration::days(30),
            period_end: now,
        },
    )
    .await
    .unwrap();
    reset_peak_rss();
    let before = peak_rss_mb();
    let start = Instant::now();
    let outcome = service::evidence::build_evidence_pack(&app, &run, None, &mut Quiet)
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    let mut conn = app.db.conn().await.unwrap();
    let built = tenantatlas::store::evidence::find_pack(&mut conn, ws_id, pack.id)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    println!(
        "  build: {secs:.2} s = {:.0} policies/s, pack {:.1} MB; peak RSS during the build {peak:.0} MB (was {before:.0} MB when it started); {}",
        policies as f64 / secs,
        built.size_bytes.unwrap_or(0) as f64 / 1e6,
        outcome.summary.split(", sha256").next().unwrap_or("")
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&data);
    drop_database(&server, &name).await;
}

fn main() {
    let Some(dir) = corpus() else {
        eprintln!("corpus not found: set TENANTATLAS_CORPUS to the oib-windows folder");
        std::process::exit(1);
    };
    let corpus = load(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scales: Vec<usize> = std::env::var("TENANTATLAS_BENCH_COPIES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 10]);
    for copies in scales {
        rt.block_on(run(&corpus, copies));
    }
}
