#!/usr/bin/env bash
# Measure the pending GPU rows of docs/benchmarks.md on a lent GPU machine, one group per call.
#
#   bash tools/device/run_gpu_benchmarks.sh GROUP [GROUP...]          # on the GPU machine
#   bash tools/device/run_gpu_benchmarks.sh GROUP [GROUP...] --smoke  # here, on CPU: the same
#                                                  # command lines, batch 1, to catch typos
#   bash tools/device/run_gpu_benchmarks.sh list                      # groups and commands
#
# Groups (each sized to end well inside the 10-minute limit of one call on an H100; the first
# call of a fresh machine also builds mmcv, ~2-3 min, unless its wheel is carried, see below):
#   mae          MAE fast path vs mmpretrain, ViT-B/16 and ViT-L/16, eager    (issue 9)
#   mae-compile  the same with torch.compile (fast path alone, then both)     (issue 9)
#   dbp          DBP-MAE vs MAE step time, ViT-B/16                           (issue 5)
#   greenmim     GreenMIM vs SimMIM, Swin-B (192 and 224 px) and Swin-L       (issue 6)
#   mirl         MIRL ViT-S-54 / ViT-B-48 vs MAE ViT-B/16 / ViT-L/16          (issue 7)
#   pruning      DynamicViT / EViT / UPerNet inference vs dense (harness rows and
#                tools/benchmark_pruning.py speed)                            (issue 8)
#   data         GPU JPEG decode (nvJPEG) of the device-decode input pipeline (issue 18)
#
# What a call does on the GPU machine:
#   1. installs the wheels carried in .whl/ (tools/device/fetch_wheels.sh) into /tmp/site;
#   2. if no mmcv wheel for Python 3.12 is carried, builds full mmcv 2.1.0 from the carried sdist
#      (CPU ops: CUDA_VISIBLE_DEVICES= FORCE_CUDA=0, C++20 for torch >= 2.10 headers) and puts
#      the wheel, in parts of < 16 MiB, under $OUT/ (mmcv-*.whl.part*): join them into .whl/
#      (`cat .../mmcv-*.whl.part* > .whl/mmcv-2.1.0-cp312-cp312-linux_x86_64.whl`) and later
#      calls skip the build;
#   3. checks torch.cuda.is_available() and the imports (stops if either fails);
#   4. runs the group's commands (each under `timeout`, a failure does not stop the others) and
#      writes to $OUT: rows.md (the Markdown rows the commands appended to docs/benchmarks.md,
#      under their section names, to paste into the repository's docs/benchmarks.md),
#      reports.tar.gz (the JSON reports) and log.txt. rows.md and log.txt are rewritten after
#      every command, so a call cut off at its limit still returns what finished.
# The commit named in the rows is $MMDBP_COMMIT (the tree copied to the GPU machine has no .git).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SELECTED=()
SMOKE=0
for arg in "$@"; do
  case "$arg" in --smoke) SMOKE=1 ;; *) SELECTED+=("$arg") ;; esac
done
[ "${#SELECTED[@]}" -gt 0 ] || SELECTED=(list)
GROUP="${SELECTED[*]}"
PY="${PYTHON:-python3}"
CMD_TIMEOUT="${CMD_TIMEOUT:-420}"  # seconds per command

# ------------------------------------------------------------------------------------------
# The groups: the exact commands listed as pending in docs/benchmarks.md
# ------------------------------------------------------------------------------------------
group_commands() {
  case "$1" in
    mae) printf '%s\n' \
      "tools/benchmark.py --workload mae-vit-b16" \
      "tools/benchmark.py --workload mae-vit-l16" ;;
    mae-compile) printf '%s\n' \
      "tools/benchmark.py --workload mae-vit-b16-compile" \
      "tools/benchmark.py --workload mae-vit-l16-compile" \
      "tools/benchmark.py --workload mae-vit-b16-compile-both" ;;
    dbp) printf '%s\n' \
      "tools/benchmark.py --workload dbp-mae-vit-b16" ;;
    greenmim) printf '%s\n' \
      "tools/benchmark.py --workload greenmim-swin-b-vs-simmim-192" \
      "tools/benchmark.py --workload greenmim-swin-b-vs-simmim-224" \
      "tools/benchmark.py --workload greenmim-swin-l-vs-simmim-192" ;;
    mirl) printf '%s\n' \
      "tools/benchmark.py --workload mirl-vit-s54-vs-mae-vit-b16" \
      "tools/benchmark.py --workload mirl-vit-b48-vs-mae-vit-l16" ;;
    pruning) printf '%s\n' \
      "tools/benchmark.py --workload dynamicvit-deit-s-keep0.7" \
      "tools/benchmark.py --workload dynamicvit-deit-b-keep0.7" \
      "tools/benchmark.py --workload evit-deit-s-keep0.7" \
      "tools/benchmark.py --workload evit-deit-b-keep0.7" \
      "tools/benchmark.py --workload upernet-dynamicvit-deit-s-512" \
      "tools/benchmark.py --workload upernet-dynamicvit-deit-s-512-bs1" \
      "tools/benchmark.py --workload upernet-evit-deit-s-512" \
      "tools/benchmark.py --workload upernet-dynamicvit-deit-b-512" \
      "tools/benchmark.py --workload upernet-evit-deit-b-512" \
      "tools/benchmark_pruning.py speed --device cuda --amp bf16 --batch 256 --seg-size 512 --seg-batch 8 --seg-channels 512 --warmup 3 --iters 10 --rounds 5" ;;
    data) printf '%s\n' \
      "tools/benchmark_data.py --device-decode cuda --num-images 200 --batch 256" ;;
    *) return 1 ;;
  esac
}
GROUPS_ALL="mae mae-compile dbp greenmim mirl pruning data"

# Smoke runs (CPU, here): the same command lines, shrunk to one tiny fp32 step (bf16 matmuls are
# slow on CPUs without bf16 units) and no docs changes.
smoke_args() {
  case "$1" in
    tools/benchmark.py*upernet*)  # + 16-channel heads: 512-channel UPerHeads at 512 px are minutes on CPU
      echo "--device cpu --amp none --batch 1 --warmup 0 --iters 1 --rounds 1 --no-flops --no-compile --no-md --out $SMOKE_DIR/report.json --cfg-options model.decode_head.channels=16 model.auxiliary_head.channels=16" ;;
    tools/benchmark.py*) echo "--device cpu --amp none --batch 1 --warmup 0 --iters 1 --rounds 1 --no-flops --no-compile --no-md --out $SMOKE_DIR/report.json" ;;
    tools/benchmark_pruning.py*) echo "" ;;
  esac
}
smoke_command() {  # benchmark_pruning.py: the GPU flags, then smaller ones (argparse: last wins)
  case "$1" in
    tools/benchmark_data.py*)  # the device-decode path on the CPU, 8 images, no docs changes
      echo "tools/benchmark_data.py --device-decode cpu --num-images 8 --samples 8 --batch 4 --no-md --data-dir $SMOKE_DIR/data --out $SMOKE_DIR/report.json" ;;
    tools/benchmark_pruning.py*)
      echo "tools/benchmark_pruning.py --no-md --out-dir $SMOKE_DIR ${1#tools/benchmark_pruning.py } --device cpu --batch 1 --seg-size 64 --seg-batch 1 --seg-channels 16 --warmup 0 --iters 1 --rounds 1 --archs deit-small --keeps 0.7" ;;
    *) echo "$1 $(smoke_args "$1")" ;;
  esac
}

if [ "$GROUP" = "list" ]; then
  for g in $GROUPS_ALL; do echo "$g:"; group_commands "$g" | sed 's/^/  python /'; done
  exit 0
fi
for g in "${SELECTED[@]}"; do
  group_commands "$g" >/dev/null || { echo "unknown group '$g' (one of: $GROUPS_ALL, list)"; exit 2; }
done
selected_commands() { for g in "${SELECTED[@]}"; do group_commands "$g"; done; }

# ------------------------------------------------------------------------------------------
# Smoke mode: here, CPU, the development venv
# ------------------------------------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then
  PY="${PYTHON:-$ROOT/.venv/bin/python}"
  SMOKE_DIR="$(mktemp -d)"
  fails=0
  while IFS= read -r cmd; do
    full="$(smoke_command "$cmd")"
    echo "[smoke] python $full"
    start=$(date +%s)
    if ! OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$PY" $full > "$SMOKE_DIR/out.txt" 2>&1; then
      tail -n 30 "$SMOKE_DIR/out.txt"; echo "[smoke] FAILED: $cmd"; fails=$((fails + 1))
    else
      echo "[smoke] ok ($(( $(date +%s) - start )) s): $(grep -E '^\[benchmark\] [^ ]+: [0-9.]+ img/s|img/s' "$SMOKE_DIR/out.txt" | tail -n 1)"
    fi
  done < <(selected_commands)
  rm -rf "$SMOKE_DIR"
  echo "[smoke] $GROUP: $fails failed"
  exit $(( fails > 0 ))
fi

# ------------------------------------------------------------------------------------------
# GPU machine: install, build mmcv if needed, check, run, collect
# ------------------------------------------------------------------------------------------
OUT_DIR="${OUT:-$ROOT/work_dirs/gpu_benchmarks}"
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/log.txt"
: > "$LOG"
say() { echo "[gpu-bench] $*" | tee -a "$LOG"; }
export PYTHONUNBUFFERED=1

ls .whl/*.whl >/dev/null 2>&1 || { say "no wheels in .whl/: run tools/device/fetch_wheels.sh here and carry .whl"; exit 3; }
t0=$(date +%s)
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl >> "$LOG" 2>&1 || { say "installing .whl/*.whl failed"; tail -n 20 "$LOG"; exit 3; }
export PYTHONPATH="/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
say "wheels installed in $(( $(date +%s) - t0 )) s"
# mmengine finds the configs shipped in mmpretrain/mmseg ('mmpretrain::...') through
# pkg_resources, which setuptools >= 81 no longer has: bring the carried setuptools if needed
if ! "$PY" -c "import pkg_resources" >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
    .whl/build/setuptools-*.whl >> "$LOG" 2>&1 && say "no pkg_resources here: carried setuptools installed"
fi

if ! "$PY" -c "import mmcv.ops" >> "$LOG" 2>&1; then
  [ -f .whl/mmcv-2.1.0.tar.gz ] || { say "no mmcv wheel and no mmcv sdist in .whl/"; exit 3; }
  say "building full mmcv 2.1.0 (CPU ops) with $(nproc) jobs"
  t0=$(date +%s)
  BUILD="$(mktemp -d)"
  tar -xzf .whl/mmcv-2.1.0.tar.gz -C "$BUILD"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$BUILD/mmcv-2.1.0/setup.py"
  "$PY" -m pip install -q --no-index --no-deps --target "$BUILD/site" .whl/build/setuptools-*.whl >> "$LOG" 2>&1
  (cd "$BUILD/mmcv-2.1.0" && PYTHONPATH="$BUILD/site:$PYTHONPATH" MMCV_WITH_OPS=1 FORCE_CUDA=0 \
     CUDA_VISIBLE_DEVICES= MAX_JOBS="$(nproc)" CFLAGS="-g0" \
     "$PY" -m pip wheel -q --no-deps --no-build-isolation --no-index -w "$BUILD/wheel" .) >> "$LOG" 2>&1 \
    || { say "mmcv build failed (log.txt)"; tail -n 40 "$LOG"; exit 3; }
  WHEEL="$(ls "$BUILD"/wheel/mmcv-*.whl | head -n 1)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site "$WHEEL" >> "$LOG" 2>&1
  split -b 15M -d "$WHEEL" "$OUT_DIR/$(basename "$WHEEL").part"
  say "mmcv built in $(( $(date +%s) - t0 )) s: $(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1)), parts in \$OUT"
fi

"$PY" - <<'EOF' 2>&1 | tee -a "$LOG"
import sys
import torch
import mmcv, mmcv.ops, mmengine, mmpretrain, mmseg  # noqa: E401,F401
import mmdbp  # noqa: F401
ok = torch.cuda.is_available()
print(f'[gpu-bench] python {sys.version.split()[0]}, torch {torch.__version__}, mmcv '
      f'{mmcv.__version__}, mmengine {mmengine.__version__}, mmpretrain {mmpretrain.__version__},'
      f' mmseg {mmseg.__version__}; GPU: {torch.cuda.get_device_name(0) if ok else "NONE"}')
sys.exit(0 if ok else 4)
EOF
[ "${PIPESTATUS[0]}" = 0 ] || { say "no GPU or an import failed: stopping"; exit 4; }

cp docs/benchmarks.md /tmp/benchmarks.before.md
started="$(date +%s)"
collect() {  # the rows the commands appended to docs/benchmarks.md, and the JSON reports
  "$PY" tools/device/paste_rows.py collect /tmp/benchmarks.before.md docs/benchmarks.md \
    "$OUT_DIR/rows.md" >> "$LOG" 2>&1
  find work_dirs/benchmark -name '*.json' -newermt "@$started" -print0 2>/dev/null \
    | tar -czf "$OUT_DIR/reports.tar.gz" --null -T - 2>/dev/null || true
}
fails=0
while IFS= read -r cmd; do
  say "python $cmd"
  t0=$(date +%s)
  timeout "$CMD_TIMEOUT" "$PY" $cmd 2>&1 | tee -a "$LOG" | grep -E '^\[benchmark\]|^(dynamicvit|evit|upernet)|Error|error:' | tail -n 12
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || { fails=$((fails + 1)); say "FAILED (exit $rc): $cmd"; }
  say "$(( $(date +%s) - t0 )) s"
  collect
done < <(selected_commands)
say "$GROUP done: $fails failed; rows in \$OUT/rows.md"
cat "$OUT_DIR/rows.md"
exit $(( fails > 0 ))
