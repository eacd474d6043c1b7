#!/usr/bin/env bash
# Issue 5's vlm-ppo goal (>= 75 % on TowerStability): where the adapters go, on the device tool's GPU
# host. Three variants x three seeds, 4,096 PPO steps each (the within-task budget), every run
# evaluated on 200 held-out TowerStability episodes:
#   language  LoRA r=16 on the language model only (the default; the baseline of this same run)
#   all       LoRA r=16 also on the vision tower and the projector (--lora-targets all)
#   full      every weight trained (--lora-rank 0, --lr 1e-4)
#   bash analysis/vlm-ppo-sweep-gpu.sh start 540    # set up, start all runs in their own session, wait
#   bash analysis/vlm-ppo-sweep-gpu.sh wait 540     # (repeat) wait up to N s more
#   bash analysis/vlm-ppo-sweep-gpu.sh collect      # table of results, metrics + eval files to $OUT
# Needs `.whl` and `.gl` carried (../shared/device/README.md).
set -u
ROOT=/tmp/sweep
. analysis/device-setup.sh
export OMP_NUM_THREADS=4
declare -A ARGS=([language]="" [all]="--lora-targets all" [full]="--lora-rank 0 --lr 1e-4")
progress() { echo "evaluated: $(ls $ROOT/*/eval.txt 2>/dev/null | xargs -r grep -l TowerStability | wc -l)/9"; }
wait_for() { wait_while "experiments.cli (train|eval)-agent" "$1" progress; }
case "$1" in
  start)
    device_setup || exit 1
    mkdir -p $ROOT; gpu=0
    for variant in language all full; do
      for seed in 0 1 2; do
        run=$ROOT/$variant-$seed
        CUDA_VISIBLE_DEVICES=$gpu setsid nohup bash -c "python3 -m physground.experiments.cli train-agent --agent vlm-ppo --task TowerStability --seed $seed --accelerator cuda ${ARGS[$variant]} --out $run > $run.log 2>&1 && python3 -m physground.experiments.cli eval-agent --run $run --tasks TowerStability --episodes 200 > $run/eval.txt 2>&1" > /dev/null 2>&1 &
        gpu=$(( (gpu + 1) % 4 ))
      done
    done
    wait_for "${2:-540}" ;;
  wait) wait_for "${2:-540}" ;;
  collect)
    for r in $ROOT/*/; do n=$(basename "$r"); printf "%-12s %s\n" "$n" "$(grep TowerStability "$r/eval.txt" 2>/dev/null | awk '{print $3, $4}')"; done
    mkdir -p "$OUT/sweep"
    for r in $ROOT/*/; do n=$(basename "$r"); mkdir -p "$OUT/sweep/$n"; cp "$r"/config.json "$r"/metrics.json "$r"/eval.json "$r"/eval.txt "$OUT/sweep/$n/" 2>/dev/null; done
    cp $ROOT/*.log "$OUT/sweep/" 2>/dev/null; ls "$OUT/sweep" ;;
esac
