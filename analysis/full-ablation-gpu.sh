#!/usr/bin/env bash
# The full ablation on the device tool's GPU machine, in calls of under 10 minutes:
#   bash analysis/full-ablation-gpu.sh start 540     # set up, start the ablation in its own session, wait
#   bash analysis/full-ablation-gpu.sh wait 570      # (repeat) wait up to N s more, print progress
#   bash analysis/full-ablation-gpu.sh collect [N]    # wait up to N s (default 120), stop it if still running, write reports, tar to $OUT
# Needs `.whl` and `.gl` carried (../shared/device/README.md). Output: /tmp/full (results/full when committed).
# To finish a partial run (e.g. the missing vlm-grpo cells of results/full):
#   FROM=results/full AGENTS=hybrid,hybrid-oracle WORKERS=36 bash analysis/full-ablation-gpu.sh start 540
# To recompute some agents' cells of a finished run (e.g. after retraining the dynamics model), add
# RERUN=1: the cells of the agents in AGENTS are removed from the copy of FROM before resuming.
# AGENTS may hold groups separated by ';', run one after another (cells of one group finish together;
# a machine with fewer cores than cells then ends with whole groups done rather than whole seeds missing):
#   FROM=results/full RERUN=1 AGENTS='hybrid,hybrid-oracle;hybrid-task-slots' WORKERS=36 bash analysis/full-ablation-gpu.sh start 540
# After a change of the preset itself (its rendering), add NEW_PRESET=1 (see below).
# PRESET names the preset (default full); a recorded one by its preset.json, e.g. the cue rows of the v0 grid:
#   FROM=results/full PRESET=results/full/preset.json AGENTS=cue-count,cue-all WORKERS=16 bash analysis/full-ablation-gpu.sh start 540
set -u
OUTDIR=/tmp/full
WORKERS=${WORKERS:-48}
PRESET=${PRESET:-full}
. analysis/device-setup.sh
progress() {
  local done; done=$(ls $OUTDIR/cells/*/cell.json 2>/dev/null | wc -l)
  [ -n "${CELLS:-}" ] || CELLS=$(python3 -c "from physground.experiments.ablation import Preset, cells_of; print(len(cells_of(Preset.load('$PRESET'))))")
  echo "$(date +%T) finished cells: $done/$CELLS; load: $(cut -d' ' -f1 /proc/loadavg); $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader | tr '\n' ' ')"
}
wait_for() {
  local until=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt "$until" ] && kill -0 "$(cat /tmp/full.pid)" 2>/dev/null; do sleep 30; progress; done
  kill -0 "$(cat /tmp/full.pid)" 2>/dev/null && echo "still running" || { echo "ablation ended"; tail -5 /tmp/full.log; }
}
case "$1" in
  start)
    device_setup || exit 1; nproc; nvidia-smi -L
    if [ -n "${FROM:-}" ] && [ ! -e $OUTDIR ]; then
      cp -r "$FROM" $OUTDIR
      if [ -n "${RERUN:-}" ]; then for a in $(echo "${AGENTS:-}" | tr ',;' '  '); do rm -rf $OUTDIR/cells/"$a"__*; done; fi
      # NEW_PRESET=1: the preset changed (e.g. its rendering); the re-run cells record the new one,
      # the kept cells their own config.json (the folder then mixes both: say so where it is reported)
      if [ -n "${NEW_PRESET:-}" ]; then rm -f $OUTDIR/preset.json; fi
    fi
    ablate="python3 -m physground.experiments.cli ablate --preset $PRESET --out $OUTDIR --workers $WORKERS --resume"
    if [ -n "${AGENTS:-}" ]; then
      runs=""; IFS=';' read -ra groups <<< "$AGENTS"
      for g in "${groups[@]}"; do runs="$runs${runs:+; }$ablate --agents $g"; done
    else runs=$ablate; fi
    echo "$runs"
    setsid nohup bash -c "$runs" > /tmp/full.log 2>&1 &
    echo $! > /tmp/full.pid
    wait_for "${2:-540}" ;;
  wait) wait_for "${2:-570}" ;;
  collect)
    # a run whose cells are all done may still be writing its reports: give it two minutes to end
    kill -0 "$(cat /tmp/full.pid)" 2>/dev/null && wait_for "${2:-120}"
    if kill -0 "$(cat /tmp/full.pid)" 2>/dev/null; then
      kill -INT -- -"$(cat /tmp/full.pid)"; sleep 30; kill -KILL -- -"$(cat /tmp/full.pid)" 2>/dev/null
      python3 -c "from physground.experiments.ablation import Preset; from physground.experiments.report import write_reports; write_reports(Preset.load('$PRESET'), '$OUTDIR')"
    fi
    progress; tail -20 /tmp/full.log
    tar czf "$OUT/full.tgz" --exclude=reset-cache --exclude='checkpoint*' --exclude='*.safetensors' --exclude='*.pt' -C /tmp full /tmp/full.log
    ls -la "$OUT" ;;
esac
