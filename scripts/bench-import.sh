#!/usr/bin/env bash
# Import benchmark: the real corpus replicated to N policies (fresh ids), imported with
# `tenantatlas import` into a fresh database. Prints policies/s and peak RSS.
#
#   scripts/bench-import.sh [N=7000]
#
# Needs the corpus (TENANTATLAS_CORPUS or ../shared/corpus/oib-windows), PostgreSQL at
# 127.0.0.1:5432 and GNU time (/usr/bin/time). Builds the release binary first, unless
# TENANTATLAS_BENCH_BIN names one; TENANTATLAS_BENCH_EXPORT keeps (and reuses) the generated
# export folder between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${1:-7000}"
CORPUS="${TENANTATLAS_CORPUS:-$(pwd)/../shared/corpus/oib-windows}"
BIN="${TENANTATLAS_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/tenantatlas}"
[ -d "$CORPUS" ] || { echo "corpus not found at $CORPUS (set TENANTATLAS_CORPUS)" >&2; exit 1; }
WORK="$(mktemp -d)"
DB="tenantatlas_bench_$$"
BASE_URL="${TENANTATLAS_BENCH_SERVER:-postgres://postgres@127.0.0.1:5432}"
trap 'rm -rf "$WORK"; psql "$BASE_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

[ -n "${TENANTATLAS_BENCH_BIN:-}" ] || cargo build --release --quiet

EXPORT="${TENANTATLAS_BENCH_EXPORT:-$WORK/export}"
if [ -d "$EXPORT" ]; then
  echo "reusing $EXPORT" >&2
else
python3 - "$CORPUS" "$EXPORT" "$N" <<'PY'
import json, os, sys, uuid
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = []
for folder in sorted(os.listdir(src)):
    d = os.path.join(src, folder)
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith(".json"):
                raw = open(os.path.join(d, f), "rb").read()
                text = raw[2:].decode("utf-16-le") if raw[:2] == b"\xff\xfe" else raw.decode("utf-8-sig")
                files.append((folder, f, json.loads(text)))
copies = -(-n // len(files))
written = 0
for c in range(copies):
    for folder, f, payload in files:
        if written >= n:
            break
        p = dict(payload)
        p["id"] = str(uuid.uuid4())
        key = "name" if "name" in p else "displayName"
        p[key] = f"{p.get(key, f)} #{c}"
        os.makedirs(os.path.join(dst, folder), exist_ok=True)
        out = os.path.join(dst, folder, f"{c:04d}-{f}")
        # Written as PowerShell does: UTF-16 LE with a byte-order mark.
        open(out, "wb").write(b"\xff\xfe" + json.dumps(p, indent=4).encode("utf-16-le"))
        written += 1
print(f"generated {written} policies in {dst}", file=sys.stderr)
PY
fi

export DATABASE_URL="$BASE_URL/$DB"
"$BIN" migrate >/dev/null
SIZE=$(du -sh "$EXPORT" | cut -f1)
/usr/bin/time -v -o "$WORK/time.txt" "$BIN" import --workspace bench --tenant "Bench" "$EXPORT" | tail -1
ELAPSED=$(grep "Elapsed (wall clock)" "$WORK/time.txt" | awk '{print $NF}')
RSS_KB=$(grep "Maximum resident set size" "$WORK/time.txt" | awk '{print $NF}')
SECS=$(python3 -c "
t='$ELAPSED'.split(':'); s=0.0
for p in t: s=s*60+float(p)
print(s)")
python3 -c "print(f'policies: $N ($SIZE of UTF-16 exports)  wall: {float($SECS):.2f} s  throughput: {$N/float($SECS):.0f} policies/s  peak RSS: {$RSS_KB/1024:.0f} MB')"
