#!/usr/bin/env bash
# The main mmdbp demo, on the embedded demo data, on CPU (called by `make demo`):
#   1. generate the demo data sets (tools/make_demo_data.py)
#   2. MAE pre-training of a micro ViT on the ImageNet-format set (loss falls visibly)
#   3. conversion of the encoder to an mmseg ViT backbone checkpoint
#   4. UPerNet fine-tuning on the ADE20K-format set
#   5. evaluation (mIoU) of the fine-tuned model
#   6. loss plot and a summary of where everything is; with several runs (MAE and DBP-MAE), the
#      validation-loss-vs-time plot and the time/energy/CO2-to-baseline table (compare_runs.py),
#      with the iterations to the baseline's best and the step-cost ratio of the runs measured
#      side by side in one process (tools/benchmark.py): a headline ratio that machine load
#      cannot fool, and a warning when the measured wall-clock disagrees with it
# Environment: DEMO_WORK_DIR (default work_dirs/demo), PYTHON (default .venv/bin/python),
# DEMO_PRETRAIN_ITERS / DEMO_FINETUNE_ITERS (override the configs' iterations, e.g. for a smoke test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${DEMO_WORK_DIR:-work_dirs/demo}"
case "$OUT" in
  *[[:space:]]*)  # the checkpoint path goes through --cfg-options, whose parser deletes spaces
    echo "[demo] DEMO_WORK_DIR='$OUT' contains a space; mmengine's --cfg-options would drop it from" \
         "the checkpoint path. Choose a folder without spaces." >&2
    exit 2;;
esac
START=$(date +%s)

# --- hook point: the pre-training runs of the demo ----------------------------------------------
# One "LABEL:CONFIG" per run; every run is converted, fine-tuned and evaluated, and all runs are
# drawn in one loss plot. Further runs (e.g. DBP-MAE next to this MAE baseline) go here.
# DBP-MAE demo (configs/dbp_mae): the MAE baseline and DBP-MAE, identical except for DBP, both
# validated on the demo val split (reconstruction loss, fixed masks) with time and energy logged.
PRETRAIN_RUNS=(
  "mae:configs/dbp_mae/mae-baseline_vit-micro-p4_1xb32-300i_demo-in1k.py"
  "dbp-mae:configs/dbp_mae/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py"
)
FINETUNE_CONFIG="configs/demo/upernet_vit-micro-p4_1xb8-400i_demo-ade20k-64x64.py"
# -------------------------------------------------------------------------------------------------

# The whole script is one function, read completely before it runs: editing this file while a
# demo is running cannot change what the running demo does.
main() {
  PRE_OPTS=()
  FT_OPTS=()
  if [ -n "${DEMO_PRETRAIN_ITERS:-}" ]; then PRE_OPTS=(--cfg-options "train_cfg.max_iters=$DEMO_PRETRAIN_ITERS"); fi
  if [ -n "${DEMO_FINETUNE_ITERS:-}" ]; then FT_OPTS=("train_cfg.max_iters=$DEMO_FINETUNE_ITERS"); fi

  STEP=""
  step() { STEP="$1"; printf '\n[demo] == %s  (%ds)\n' "$1" $(( $(date +%s) - START )); }
  trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\n[demo] FAILED at step: %s (exit %d); see the log above\n" "$STEP" "$rc" >&2; fi' EXIT

  step "1/6 demo data (data/demo_in1k, data/demo_ade20k)"
  "$PY" tools/make_demo_data.py --out data

  SUMMARY=()
  PLOT_ARGS=()
  CONFIGS=()
  for run in "${PRETRAIN_RUNS[@]}"; do
    LABEL="${run%%:*}"
    CONFIG="${run#*:}"
    WD="$OUT/$LABEL"
    rm -rf "$WD"

    step "2/6 [$LABEL] pre-training: $CONFIG"
    "$PY" tools/train.py "$CONFIG" --work-dir "$WD/pretrain" "${PRE_OPTS[@]}"
    CKPT="$(cat "$WD/pretrain/last_checkpoint")"
    PLOT_ARGS+=("$LABEL=$WD/pretrain")
    CONFIGS+=("$CONFIG")

    step "3/6 [$LABEL] checkpoint conversion: encoder (DBP matrices folded in, if any) -> mmseg ViT"
    "$PY" tools/model_converters/dbp_mae_to_vit.py "$CKPT" "$WD/vit_mmseg.pth" --target mmseg

    step "4/6 [$LABEL] UPerNet fine-tuning: $FINETUNE_CONFIG"
    "$PY" tools/train.py "$FINETUNE_CONFIG" --work-dir "$WD/upernet" \
        --cfg-options model.backbone.init_cfg.checkpoint="$WD/vit_mmseg.pth" "${FT_OPTS[@]}"
    SEG_CKPT="$(cat "$WD/upernet/last_checkpoint")"

    step "5/6 [$LABEL] evaluation on the demo ADE20K validation split"
    "$PY" tools/test.py "$FINETUNE_CONFIG" "$SEG_CKPT" --work-dir "$WD/upernet_test" \
        --out "$WD/upernet_test/metrics.json"
    SUMMARY+=("$LABEL|$CKPT|$WD/vit_mmseg.pth|$SEG_CKPT|$WD/upernet_test/metrics.json|$WD/pretrain")
  done

  step "6/6 loss plot and summary"
  "$PY" tools/analysis/plot_train_loss.py "${PLOT_ARGS[@]}" --out "$OUT/pretrain_loss.png" | tee "$OUT/pretrain_loss.txt"
  # DBP-MAE vs MAE: validation loss vs training time, time/energy/CO2 to the baseline's best loss
  if [ "${#PLOT_ARGS[@]}" -ge 2 ]; then
    # step cost of every run against the first (the baseline), side by side in one process with
    # alternating rounds: the runs above ran one after the other, maybe under different loads
    STEP_COSTS=()
    BATCH="$("$PY" -c 'import sys; from mmengine.config import Config; print(Config.fromfile(sys.argv[1]).train_dataloader.batch_size)' "${CONFIGS[0]}")"
    for i in $(seq 1 $(( ${#CONFIGS[@]} - 1 ))); do
      LABEL="${PLOT_ARGS[$i]%%=*}"
      if "$PY" tools/benchmark.py "${CONFIGS[$i]}" --baseline "${CONFIGS[0]}" --batch "$BATCH" \
          --device cpu --amp none --iters 5 --rounds 3 --warmup 2 --no-flops --no-md \
          --out "$OUT/step_cost_$LABEL.json" > "$OUT/step_cost_$LABEL.log" 2>&1; then
        STEP_COSTS+=(--step-cost "$LABEL=$OUT/step_cost_$LABEL.json")
      else
        echo "[demo] the side-by-side step-cost measurement of $LABEL failed (see" \
             "$OUT/step_cost_$LABEL.log): its row gets no headline ratio." >&2
      fi
    done
    "$PY" tools/analysis/compare_runs.py "${PLOT_ARGS[@]}" "${STEP_COSTS[@]}" \
        --out "$OUT/dbp_vs_mae" \
        --title "demo: MAE vs DBP-MAE (validation reconstruction loss)" > /dev/null
  fi

  "$PY" - "$OUT" "$(( $(date +%s) - START ))" "${SUMMARY[@]}" <<'PYEOF'
import json, sys
out, seconds, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print('\n' + '=' * 78)
print(f'mmdbp demo finished in {seconds // 60} min {seconds % 60} s. Results per pre-training run:')
for run in runs:
    label, ckpt, vit, seg_ckpt, metrics, pre_dir = run.split('|')
    with open(metrics) as f:
        m = json.load(f)
    print(f'\n[{label}]')
    print(f'  mIoU {m["mIoU"]:.2f}   aAcc {m["aAcc"]:.2f}   mAcc {m["mAcc"]:.2f}   (demo ADE20K val)')
    print(f'  pre-training checkpoint : {ckpt}')
    print(f'  pre-training logs       : {pre_dir}/<timestamp>/ (.log, vis_data/scalars.json)')
    print(f'  converted ViT backbone  : {vit}')
    print(f'  UPerNet checkpoint      : {seg_ckpt}')
    print(f'  evaluation metrics      : {metrics}')
print(f'\nloss curves: {out}/pretrain_loss.png  (first/last loss in {out}/pretrain_loss.txt)')
import os.path as osp
if osp.isfile(f'{out}/dbp_vs_mae.md'):
    miou = {}
    for run in runs:
        label, metrics = run.split('|')[0], run.split('|')[4]
        with open(metrics) as f:
            miou[label] = json.load(f)['mIoU']
    print(f'\nDBP-MAE vs MAE (time to the baseline\'s best validation loss; {out}/dbp_vs_mae.png).'
          '\nThe headline ratio is iterations x the step cost of the two runs measured side by '
          'side in one process;\nwall-clock, energy and CO2 are as measured (marked unreliable '
          'when the load changed between the runs):\n')
    print(open(f'{out}/dbp_vs_mae.md').read())
    if 'mae' in miou and 'dbp-mae' in miou:
        print(f'UPerNet mIoU: DBP-MAE {miou["dbp-mae"]:.2f} vs MAE {miou["mae"]:.2f} '
              f'({miou["dbp-mae"] - miou["mae"]:+.2f}); demo data, one seed: see '
              'docs/benchmarks.md (DBP-MAE) for the 3-seed benchmark.')
print('=' * 78)
PYEOF
}

main "$@"
