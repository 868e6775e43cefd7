//! Drift evaluation of 100 tenants x 70 policies (the real corpus) against one baseline.
//!
//!   cargo bench --bench drift
//!
//! 1. The engine alone (no database): per tenant, parse the 70 stored payloads, match them
//!    with the baseline's policies, flatten and compare. Prints policy comparisons/s.
//! 2. End to end against PostgreSQL (`TENANTATLAS_BENCH_SERVER`, default
//!    `postgres://postgres@127.0.0.1:5432`; a throwaway database is created and dropped):
//!    import the tenants, create and assign the baseline, then run each tenant's
//!    evaluation (read, compare, reconcile findings, snapshot, audit) twice: the first
//!    creates the findings, the second is the steady state. Prints comparisons/s and RSS.
//!
//! Every 4th tenant drifts: three values changed and one policy removed; every tenant is a
//! re-export (new ids, timestamps, reversed lists), so false drift would show as findings.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use std::time::Instant;

use serde_json::{json, Value};
use tenantatlas::{
    auth::Principal,
    authz::Access,
    domain::{
        contracts::{classify, Contract},
        drift::{
            comparable_settings, match_items, normalize_name, settings_digest, template_id,
            Candidate, ExpectedPolicy, ItemKey, ItemRules,
        },
        ids::WorkspaceId,
    },
};

const TENANTS: usize = 100;

/// Changes the first choice or simple value of a settings catalog policy.
fn drift(v: &mut Value) {
    if let Some(first) = v
        .get_mut("settings")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.first_mut())
    {
        let inst = &mut first["settingInstance"];
        if let Some(c) = inst.get_mut("choiceSettingValue") {
            c["value"] = json!("changed_by_bench");
        } else if let Some(s) = inst.get_mut("simpleSettingValue") {
            s["value"] = json!("changed_by_bench");
        }
    }
}

/// The 100 tenants' exports: (folder, file, payload text) per tenant.
fn tenants(corpus: &[(String, String, Value)]) -> Vec<Vec<(String, String, String)>> {
    (0..TENANTS)
        .map(|t| {
            corpus
                .iter()
                .enumerate()
                .filter(|(i, _)| !(t % 4 == 0 && *i == 10))
                .map(|(i, (folder, file, v))| {
                    let mut v = reexport(v, t);
                    if t % 4 == 0 && [20, 30, 40].contains(&i) {
                        drift(&mut v);
                    }
                    (
                        folder.clone(),
                        file.clone(),
                        serde_json::to_string(&v).unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

fn engine(corpus: &[(String, String, Value)], tenants: &[Vec<(String, String, String)>]) {
    let expected: Vec<(ItemKey, ExpectedPolicy)> = corpus
        .iter()
        .map(|(folder, _, v)| {
            let c: &'static Contract = classify(v, Some(folder)).unwrap();
            let name = tenantatlas::domain::contracts::display_name(c, v).unwrap_or_default();
            (
                ItemKey {
                    contract_type: c.collection.to_string(),
                    match_name: normalize_name(&name),
                    template_id: template_id(v),
                    mapped: None,
                },
                ExpectedPolicy::new(c, v, ItemRules::default()),
            )
        })
        .collect();
    let keys: Vec<ItemKey> = expected.iter().map(|(k, _)| k.clone()).collect();
    let start = Instant::now();
    let mut comparisons = 0usize;
    let mut drifts = 0usize;
    for tenant in tenants {
        let parsed: Vec<(&'static Contract, Value)> = tenant
            .iter()
            .map(|(folder, _, text)| {
                let v: Value = serde_json::from_str(text).unwrap();
                (classify(&v, Some(folder)).unwrap(), v)
            })
            .collect();
        let candidates: Vec<Candidate> = parsed
            .iter()
            .enumerate()
            .map(|(i, (c, v))| Candidate {
                id: uuid::Uuid::from_u128(i as u128),
                contract_type: c.collection.to_string(),
                match_name: normalize_name(
                    &tenantatlas::domain::contracts::display_name(c, v).unwrap_or_default(),
                ),
                template_id: template_id(v),
                active: true,
            })
            .collect();
        let matches = match_items(&keys, &candidates);
        for ((_, exp), m) in expected.iter().zip(matches) {
            comparisons += 1;
            let c = match m {
                tenantatlas::domain::drift::Match::Found(id, _) => {
                    let (contract, v) = &parsed[id.as_u128() as usize];
                    exp.compare(&comparable_settings(contract, v))
                }
                _ => exp.absent(tenantatlas::domain::drift::DriftKind::MissingPolicy, None),
            };
            drifts += c.drifts.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "engine, every payload parsed and compared: {comparisons} policy comparisons in {secs:.3} s = {:.0} comparisons/s, {drifts} drift(s)",
        comparisons as f64 / secs
    );

    // As evaluations run once a version's settings digest is stored: matching on stored
    // metadata, and only policies whose digest differs from the baseline's are read.
    type Prepared<'a> = (Candidate, String, &'a String, &'static Contract);
    let prepared: Vec<Vec<Prepared<'_>>> = tenants
        .iter()
        .map(|tenant| {
            tenant
                .iter()
                .enumerate()
                .map(|(i, (folder, _, text))| {
                    let v: Value = serde_json::from_str(text).unwrap();
                    let c = classify(&v, Some(folder)).unwrap();
                    let candidate = Candidate {
                        id: uuid::Uuid::from_u128(i as u128),
                        contract_type: c.collection.to_string(),
                        match_name: normalize_name(
                            &tenantatlas::domain::contracts::display_name(c, &v)
                                .unwrap_or_default(),
                        ),
                        template_id: template_id(&v),
                        active: true,
                    };
                    (
                        candidate,
                        settings_digest(&comparable_settings(c, &v)),
                        text,
                        c,
                    )
                })
                .collect()
        })
        .collect();
    let item_digests: Vec<String> = corpus
        .iter()
        .map(|(folder, _, v)| {
            settings_digest(&comparable_settings(classify(v, Some(folder)).unwrap(), v))
        })
        .collect();
    let start = Instant::now();
    let mut comparisons = 0usize;
    let mut drifts = 0usize;
    let mut read = 0usize;
    for tenant in &prepared {
        let candidates: Vec<Candidate> = tenant.iter().map(|t| t.0.clone()).collect();
        let matches = match_items(&keys, &candidates);
        for (((_, exp), m), digest) in expected.iter().zip(matches).zip(&item_digests) {
            comparisons += 1;
            let c = match m {
                tenantatlas::domain::drift::Match::Found(id, _) => {
                    let (_, d, text, contract) = &tenant[id.as_u128() as usize];
                    if d == digest {
                        exp.unchanged()
                    } else {
                        read += 1;
                        let v: Value = serde_json::from_str(text).unwrap();
                        exp.compare(&comparable_settings(contract, &v))
                    }
                }
                _ => exp.absent(tenantatlas::domain::drift::DriftKind::MissingPolicy, None),
            };
            drifts += c.drifts.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "engine, with stored settings digests: {comparisons} policy comparisons in {secs:.3} s = {:.0} comparisons/s ({read} payload(s) read), {drifts} drift(s)",
        comparisons as f64 / secs
    );
}

async fn end_to_end(tenants: &[Vec<(String, String, String)>]) {
    use tenantatlas::service;
    let server = std::env::var("TENANTATLAS_BENCH_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("tenantatlas_bench_drift_{}", std::process::id());
    let url = format!("{server}/{name}");
    let mut config = tenantatlas::config::Config::new(url.clone());
    config.jobs.workers = 0;
    let app = match tenantatlas::build_context(&config).await {
        Ok(app) => app,
        Err(e) => {
            println!("end to end: skipped, PostgreSQL not reachable at {server} ({e})");
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
    let root = std::env::temp_dir().join(&name);
    let mut ids = Vec::new();
    let start = Instant::now();
    for (t, files) in tenants.iter().enumerate() {
        let dir = root.join(format!("t{t}"));
        ids.push(import_tenant(&app, &access, ws_id, &format!("Tenant {t}"), &dir, files).await);
    }
    println!(
        "end to end: imported {} tenants in {:.1} s",
        ids.len(),
        start.elapsed().as_secs_f64()
    );
    let baseline = service::baselines::create_baseline(
        &app,
        &access,
        ws_id,
        "OIB",
        None,
        service::baselines::BaselineSource::Tenant(ids[1]),
    )
    .await
    .unwrap();
    let all: Vec<uuid::Uuid> = ids.iter().map(|t| t.0).collect();
    service::baselines::assign_baseline(&app, &access, baseline.id, &all)
        .await
        .unwrap();
    // Two at a time, as a server's two workers run them; then one at a time.
    for (pass, parallel) in [
        ("first, 2 workers (creates findings)", 2),
        ("steady state, 2 workers", 2),
        ("steady state, 1 worker", 1),
    ] {
        let start = Instant::now();
        let q0 = app.db.queries.get();
        let mut compared = 0;
        let mut findings = 0;
        for chunk in ids.chunks(parallel) {
            let runs = chunk.iter().map(|t| {
                let app = app.clone();
                let t = *t;
                tokio::spawn(async move {
                    service::drift::evaluate_tenant(
                        &app,
                        ws_id,
                        t,
                        None,
                        "system:bench",
                        &mut Quiet,
                    )
                    .await
                    .unwrap()
                })
            });
            for o in futures_util::future::join_all(runs).await {
                let o = o.unwrap();
                compared += o.compared;
                findings += o.new + o.still_open + o.reopened;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "end to end, {pass}: {compared} comparisons in {secs:.2} s = {:.0} comparisons/s, {findings} open finding(s), {} SQL statements per evaluation",
            compared as f64 / secs,
            (app.db.queries.get() - q0) / ids.len() as u64
        );
    }
    println!("peak RSS {:.0} MB", peak_rss_mb());
    drop(app);
    let _ = std::fs::remove_dir_all(&root);
    drop_database(&server, &name).await;
}

fn main() {
    let Some(dir) = corpus() else {
        eprintln!("corpus not found: set TENANTATLAS_CORPUS to the oib-windows folder");
        std::process::exit(1);
    };
    let corpus = load(&dir);
    let tenants = tenants(&corpus);
    println!(
        "{} tenants x {} policies against one baseline of {}",
        tenants.len(),
        corpus.len(),
        corpus.len()
    );
    engine(&corpus, &tenants);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(end_to_end(&tenants));
}
