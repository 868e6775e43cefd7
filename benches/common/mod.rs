//! Shared by the benchmarks: the corpus, re-exports of it, a silent progress sink, peak
//! RSS, and throwaway databases.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tenantatlas::{
    authz::Access,
    domain::ids::{TenantId, WorkspaceId},
    providers::export_dir::decode_text,
    service::{self, AppContext},
    store,
};

/// The corpus folder (`TENANTATLAS_CORPUS`, else `../shared/corpus/oib-windows`).
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("TENANTATLAS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/oib-windows")
        });
    dir.is_dir().then_some(dir)
}

/// (folder, file name, payload) of every corpus file, sorted.
pub fn load(dir: &Path) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    let mut folders: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    folders.sort_by_key(|e| e.file_name());
    for folder in folders.into_iter().filter(|f| f.path().is_dir()) {
        let name = folder.file_name().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(folder.path())
            .unwrap()
            .flatten()
            .collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let text = decode_text(&std::fs::read(f.path()).unwrap()).unwrap();
            out.push((
                name.clone(),
                f.file_name().to_string_lossy().to_string(),
                serde_json::from_str(&text).unwrap(),
            ));
        }
    }
    out
}

/// Tenant `n`'s re-export of a payload: new ids, new timestamps, lists and keys reversed.
pub fn reexport(v: &Value, n: usize) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .rev()
                .map(|(k, val)| {
                    let new = match (k.as_str(), val) {
                        ("id" | "groupId", Value::String(s)) => json!(format!("{s}-{n}")),
                        ("lastModifiedDateTime", Value::String(_)) => json!("2026-12-01T00:00:00Z"),
                        _ => reexport(val, n),
                    };
                    (k.clone(), new)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().rev().map(|x| reexport(x, n)).collect()),
        other => other.clone(),
    }
}

/// A progress sink that never cancels.
pub struct Quiet;

#[async_trait::async_trait]
impl tenantatlas::service::inventory::Progress for Quiet {
    async fn report(
        &mut self,
        _: usize,
        _: usize,
        _: &str,
    ) -> tenantatlas::error::AppResult<tenantatlas::service::inventory::Control> {
        Ok(tenantatlas::service::inventory::Control::Continue)
    }
}

/// Peak resident set size of this process (VmHWM), MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak RSS counter, so the next reading covers only what follows.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Drops a throwaway database.
pub async fn drop_database(server: &str, name: &str) {
    if let Ok((client, conn)) =
        tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await
    {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// Writes `files` (folder, file name, text) under `dir` and imports them into a new tenant
/// `name` with a CLI-style run executed here.
pub async fn import_tenant(
    app: &std::sync::Arc<AppContext>,
    access: &Access,
    ws: WorkspaceId,
    name: &str,
    dir: &Path,
    files: &[(String, String, String)],
) -> TenantId {
    for (folder, file, text) in files {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        std::fs::write(dir.join(folder).join(file), text).unwrap();
    }
    let tenant =
        service::tenants::create_tenant(app, access, ws, name, &uuid::Uuid::new_v4().to_string())
            .await
            .unwrap();
    let mut conn = app.db.conn().await.unwrap();
    let run = store::operation_runs::insert_claimed_run(
        &mut conn,
        ws,
        Some(tenant.id),
        "INVENTORY_SYNC",
        json!({"path": dir.to_string_lossy()}),
        "system:bench",
        "bench",
        60.0,
    )
    .await
    .unwrap();
    drop(conn);
    tenantatlas::jobs::execute_run(app.clone(), run, "bench".into()).await;
    TenantId(tenant.id)
}
