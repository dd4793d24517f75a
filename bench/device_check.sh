#!/usr/bin/env bash
# One-shot check of `conda torch detect` on a GPU machine (issue 2, "When a GPU is lent").
#
#   OUT=/some/folder bash bench/device_check.sh      # run from the repository root
#
# Runs `detect --json` and `detect` live beside `nvidia-smi` and `nvidia-smi --query-gpu`,
# saves every output under $OUT, then `detect --from` on those captured outputs, the benchmark
# and (if present) `validate`. Each step has its own timeout, a failing step never stops the
# rest, and steps are skipped once ~170 s have passed, so the whole script stays under ~3 min.
# It downloads nothing. $OUT/summary.txt lists each step with its exit status and wall time.

set -u
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset CONDA_OVERRIDE_CUDA
START=$(date +%s.%N)
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

# step NAME TIMEOUT_S COMMAND...  -> $OUT/NAME.out, $OUT/NAME.err, a line in summary.txt
step() {
    local name=$1 limit=$2
    shift 2
    local now
    now=$(date +%s.%N)
    if awk -v a="$now" -v b="$START" 'BEGIN { exit !(a - b > 170) }'; then
        printf '%-28s skipped (time budget spent)\n' "$name" | tee -a "$SUMMARY"
        return
    fi
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout --kill-after=5 "$limit" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
    rc=$?
    t1=$(date +%s.%N)
    printf '%-28s rc=%-3s %8.1f ms  %s\n' "$name" "$rc" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print (a - b) * 1000 }')" "$*" | tee -a "$SUMMARY"
}

{
    echo "host: $(hostname)  date: $(date -u +%FT%TZ)"
    echo "python: $($PY -c 'import sys; print(sys.version.split()[0], sys.executable)' 2>&1)"
    echo "torch: $($PY -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1 | tail -1)"
} | tee -a "$SUMMARY"

# 1. the raw facts, as a user would paste them
step proc-version        5  cat /proc/driver/nvidia/version
step proc-gpus-info      5  sh -c 'for f in /proc/driver/nvidia/gpus/*/information; do echo "== $f"; cat "$f"; done'
step pci-sysfs           5  sh -c 'for d in /sys/bus/pci/devices/*; do c=$(cat $d/class); case $c in 0x03*) echo "$(basename $d) $c $(cat $d/vendor) $(cat $d/device)";; esac; done'
step nvidia-smi          30 nvidia-smi
step nvidia-smi-query    30 nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
step nvidia-smi-L        30 nvidia-smi -L

# 2. live detection (first runs pay for cold caches; the bench below measures warm)
step detect-json         60 "$PY" -m conda_torch detect --json
step detect              60 "$PY" -m conda_torch detect
step detect-verbose      60 "$PY" -m conda_torch detect -v
step detect-no-smi       60 "$PY" -m conda_torch detect --no-nvidia-smi -v
step detect-cvd-empty    60 env CUDA_VISIBLE_DEVICES= "$PY" -m conda_torch detect
step detect-cvd-0        60 env CUDA_VISIBLE_DEVICES=0 "$PY" -m conda_torch detect --json
step detect-override     60 env CONDA_OVERRIDE_CUDA=12.6 "$PY" -m conda_torch detect

# 3. the same machine from the outputs captured above
step detect-from         60 "$PY" -m conda_torch detect --from "$OUT/nvidia-smi.out" "$OUT/nvidia-smi-query.out" "$OUT/proc-version.out"
step detect-from-json    60 "$PY" -m conda_torch detect --json --from "$OUT/nvidia-smi.out" "$OUT/nvidia-smi-query.out" "$OUT/proc-version.out" "$OUT/nvidia-smi-L.out"

# 4. live vs captured: the facts both must agree on
step compare             30 "$PY" - "$OUT/detect-json.out" "$OUT/detect-from-json.out" <<'EOF'
import json, sys
def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}")
        return {}
live, files = (load(p) for p in sys.argv[1:3])
def facts(m):
    nv = m.get("nvidia") or {}
    return {"driver": nv.get("driver_version"), "cuda": nv.get("cuda_version"),
            "gpus": [(g["name"], g["compute_capability"], g["memory_mib"], g["uuid"]) for g in nv.get("gpus", [])]}
a, b = facts(live), facts(files)
print("live :", a)
print("files:", b)
print("live probes:", [(p["name"], p["ok"], p["ms"]) for p in live.get("probes", [])])
print("AGREE" if a == b else "DIFFER")
sys.exit(0 if a == b else 1)
EOF

# 5. the benchmark, and validate where it exists
step bench               120 "$PY" bench/detect.py
if [ -f conda_torch/cli/main_validate.py ]; then
    step validate        120 "$PY" -m conda_torch validate --python python3 --json
fi

printf 'total %.1f s\n' "$(awk -v a="$(date +%s.%N)" -v b="$START" 'BEGIN { print a - b }')" | tee -a "$SUMMARY"
exit 0
