//! Per-stage throughput of the import pipeline on the real corpus (no database):
//! decoding, parsing, hashing, flattening, serialising, and classification/redaction.
//!
//!   cargo bench --bench pipeline            # corpus from TENANTATLAS_CORPUS or ../shared/corpus/oib-windows
//!
//! Prints policies/s per stage and for the whole CPU part of an import.
use std::{path::PathBuf, time::Instant};

use serde_json::Value;
use tenantatlas::{
    domain::{
        contracts::classify,
        policy::{assignments, canonical_hash, flatten_settings},
    },
    providers::export_dir::decode_text,
};

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("TENANTATLAS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/oib-windows")
        });
    dir.is_dir().then_some(dir)
}

fn files(dir: &PathBuf) -> Vec<(Option<String>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    folders.sort_by_key(|e| e.file_name());
    for folder in folders {
        if !folder.path().is_dir() {
            continue;
        }
        let name = folder.file_name().to_string_lossy().to_string();
        let mut entries: Vec<_> = std::fs::read_dir(folder.path())
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if e.path().extension().is_some_and(|x| x == "json") {
                if let Ok(bytes) = std::fs::read(e.path()) {
                    out.push((Some(name.clone()), bytes));
                }
            }
        }
    }
    out
}

static TOTAL_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn stage<T>(name: &str, n: usize, mut f: impl FnMut() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let secs = start.elapsed().as_secs_f64();
    TOTAL_NS.fetch_add(
        start.elapsed().as_nanos() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    println!(
        "{name:<28} {:>10.0} policies/s  ({secs:.3} s for {n})",
        n as f64 / secs
    );
    out
}

fn main() {
    let Some(dir) = corpus() else {
        eprintln!("corpus not found: set TENANTATLAS_CORPUS to the oib-windows folder");
        std::process::exit(1);
    };
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let one = files(&dir);
    let inputs: Vec<_> = (0..reps).flat_map(|_| one.iter().cloned()).collect();
    let n = inputs.len();
    let mb: usize = inputs.iter().map(|(_, b)| b.len()).sum::<usize>() / 1_000_000;
    println!("{n} policies ({reps} copies of the corpus), {mb} MB of exports as they are");
    let texts: Vec<String> = stage("decode (UTF-16 -> UTF-8)", n, || {
        inputs
            .iter()
            .filter_map(|(_, b)| decode_text(b).ok())
            .collect()
    });
    let values: Vec<Value> = stage("parse (serde_json::Value)", n, || {
        texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect()
    });
    let contracts: Vec<_> = values
        .iter()
        .zip(&inputs)
        .filter_map(|(v, (folder, _))| classify(v, folder.as_deref()))
        .collect();
    assert_eq!(contracts.len(), n, "every corpus file classifies");
    stage("canonical hash", n, || {
        values
            .iter()
            .zip(&contracts)
            .map(|(v, c)| canonical_hash(c, v).len())
            .sum::<usize>()
    });
    stage("flatten settings", n, || {
        values
            .iter()
            .zip(&contracts)
            .map(|(v, c)| flatten_settings(c, v).len())
            .sum::<usize>()
    });
    stage("assignments", n, || {
        values.iter().map(|v| assignments(v).len()).sum::<usize>()
    });
    let fp = tenantatlas::domain::secrets::Fingerprinter::new(b"bench key");
    let mut redacted = values.clone();
    let found = stage("classify + redact secrets", n, || {
        redacted
            .iter_mut()
            .map(|v| {
                tenantatlas::domain::secrets::redact_payload(&fp, v)
                    .fields
                    .len()
            })
            .sum::<usize>()
    });
    println!("{found} secret field(s) found in the corpus (expected: 0)");
    stage("serialise (payload text)", n, || {
        values
            .iter()
            .filter_map(|v| serde_json::to_string(v).ok())
            .map(|s| s.len())
            .sum::<usize>()
    });
    let total = TOTAL_NS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
    println!(
        "{:<28} {:>10.0} policies/s  ({total:.3} s of one core; an import runs this on two threads)",
        "all stages",
        n as f64 / total
    );
}
