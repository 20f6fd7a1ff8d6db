#!/usr/bin/env bash
# The single GPU-machine command (run from the repo root, with .traindata carried; see README.md):
#   bash scripts/train/device_train.sh [TOTAL_S=420]
# TOTAL_S is the wall budget of this whole script: training gets TOTAL_S - RESERVE_S (default 75 s; split between
# the stages by the config's base.timeFraction), the rest is for export, held-out scoring, the summary and, with
# what is left (~45 s), a speed probe of the base step (probe_speed.py: host- or GPU-bound, memory format, loader).
# Writes under $OUT (default /tmp/cleanplate-out):
#   model/{base.onnx,refiner.onnx,model.json}   exported model (parity-checked with onnxruntime when present)
#   checkpoint/weights.pt                        weights-only checkpoint (fallback: export it elsewhere)
#   train-log.txt, metrics.json (summary, loss curve, held-out scores, export report), speed-probe.json
# (7 files: the device tool brings back at most 8; export.json and heldout.json stay in the run folder)
# Later steps run even when an earlier one fails, so whatever was trained gets exported.
set -uo pipefail
TOTAL="${1:-420}"
RESERVE="${RESERVE_S:-75}"
OUT_DIR="${OUT:-/tmp/cleanplate-out}"
PY="${PYTHON:-python3}"
RUN="${RUN_DIR:-/tmp/cleanplate-run}"
CONFIG="${CONFIG:-scripts/train/configs/gpu.json}"
DATA="${DATA:-.traindata}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR/model" "$OUT_DIR/checkpoint"
LOG="$OUT_DIR/train-log.txt"
START=$SECONDS
left() { echo $(( TOTAL - (SECONDS - START) )); }
main() {
  echo "== device_train: total ${TOTAL}s, reserve ${RESERVE}s, out $OUT_DIR, run $RUN, data $DATA ($(du -sh "$DATA" 2>/dev/null | cut -f1))"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  local train_s=$(( TOTAL - RESERVE ))
  echo "== train (${train_s}s)"
  timeout --kill-after=20 $(( train_s + 40 )) "$PY" scripts/train/train.py --config "$CONFIG" --out "$RUN" \
    --time-budget-s "$train_s" --data "$DATA" --backgrounds "$DATA/backgrounds" ${INIT:+--init "$INIT"}
  local rc=$?
  echo "== train exit $rc after $((SECONDS - START))s"
  if [ $rc -ne 0 ] && [ "$(left)" -gt $(( RESERVE + 60 )) ]; then
    local retry_s=$(( $(left) - RESERVE ))
    echo "== retry: resume with 4 workers, no autocast (${retry_s}s)"
    timeout --kill-after=20 $(( retry_s + 40 )) "$PY" scripts/train/train.py --config "$CONFIG" --out "$RUN" \
      --time-budget-s "$retry_s" --data "$DATA" --backgrounds "$DATA/backgrounds" --resume --workers 4 --no-amp
    echo "== retry exit $? after $((SECONDS - START))s"
  fi
  echo "== weights copy"
  "$PY" scripts/train/summarize.py --run "$RUN" --weights "$OUT_DIR/checkpoint/weights.pt"
  echo "== export"
  timeout 120 "$PY" scripts/train/export.py --run "$RUN" --out "$OUT_DIR/model" --report "$RUN/export.json"
  echo "== export exit $? after $((SECONDS - START))s"
  ls -l "$OUT_DIR/model"
  local eval_s=$(left)
  [ "$eval_s" -lt 20 ] && eval_s=20
  echo "== held-out scoring (limit ${eval_s}s)"
  timeout "$eval_s" "$PY" scripts/train/evaluate.py --run "$RUN" --data "$DATA" --backgrounds "$DATA/backgrounds" \
    --out "$RUN/heldout.json" | head -c 4000
  echo
  echo "== summary"
  "$PY" scripts/train/summarize.py --run "$RUN" --out "$OUT_DIR/metrics.json" --heldout "$RUN/heldout.json" \
    --export "$RUN/export.json"
  local probe_s=$(( $(left) - 2 ))
  if [ "$probe_s" -ge 12 ]; then
    echo "== speed probe (limit ${probe_s}s)"
    timeout "$probe_s" "$PY" scripts/train/probe_speed.py --config "$CONFIG" --data "$DATA" --backgrounds "$DATA/backgrounds" \
      --budget-s $(( probe_s - 8 )) --out "$OUT_DIR/speed-probe.json" | tail -n 8
  fi
  echo "== done after $((SECONDS - START))s"
}
main 2>&1 | tee "$LOG"
