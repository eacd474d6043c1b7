#!/usr/bin/env bash
# Issue 5's vlm-ppo goal (>= 75 % on TowerStability) with a tiny VLM that was also pre-trained to read
# how far each tower block is shifted from the one below (the opt-in "offset" questions of
# perception/scene_text.py: static geometry to a tenth of a block size, never an outcome). The
# adapter sweep (analysis/vlm-ppo-sweep-gpu.sh) showed that PPO does not find the offsets in the
# shipped VLM's features; this checks whether pre-training that makes them readable does.
# One GPU host (device tool), `.whl` and `.gl` carried:
#   bash analysis/vlm-offsets-gpu.sh start 560   # stage-3 pre-training (4 min cap), then 3 seeds x
#                                                  # {offsets VLM, shipped VLM} of vlm-ppo in the background
#   bash analysis/vlm-offsets-gpu.sh wait 560     # (repeat) wait up to N s more
#   bash analysis/vlm-offsets-gpu.sh collect      # table; VLM, metrics and eval files to $OUT
# Every PPO run: the default budget (4,096 steps, 8 sync envs, LoRA r=16 on the language model),
# evaluated on 200 held-out TowerStability episodes — the sweep's "language" setting.
set -u
ROOT=/tmp/offsets
VLM=$ROOT/tiny-vlm-offsets
. analysis/device-setup.sh
export OMP_NUM_THREADS=2
progress() { echo "evaluated: $(ls $ROOT/*/eval.txt 2>/dev/null | xargs -r grep -l TowerStability | wc -l)/6"; }
wait_for() { wait_while "experiments.cli (train|eval)-agent" "$1" progress; }
case "$1" in
  start)
    device_setup || exit 1
    mkdir -p $ROOT
    python3 -m physground.experiments.cli pretrain-vlm --out $VLM --scenes 12000 --eval-scenes 600 --epochs 8 --batch-size 128 --lr 0.0005 \
      --seed 2 --workers 14 --precision bf16-mixed --max-minutes 4 --init-from perception/checkpoints/tiny-vlm \
      --extra exists=3,left_right=3,offset=3 > $ROOT/pretrain.log 2>&1 || { tail -n 20 $ROOT/pretrain.log; exit 1; }
    tail -n 12 $ROOT/pretrain.log
    for seed in 0 1 2; do
      for variant in offsets shipped; do
        run=$ROOT/$variant-$seed; vlm=""; [ $variant = offsets ] && vlm="--vlm $VLM"
        setsid nohup bash -c "python3 -m physground.experiments.cli train-agent --agent vlm-ppo --task TowerStability --seed $seed --accelerator cuda $vlm --out $run > $run.log 2>&1 && python3 -m physground.experiments.cli eval-agent --run $run --tasks TowerStability --episodes 200 > $run/eval.txt 2>&1" > /dev/null 2>&1 &
      done
    done
    wait_for "${2:-300}" ;;
  wait) wait_for "${2:-540}" ;;
  collect)
    for r in $ROOT/*/; do n=$(basename "$r"); [ -f "$r/config.json" ] && printf "%-12s %s\n" "$n" "$(grep TowerStability "$r/eval.txt" 2>/dev/null | awk '{print $3, $4}')"; done
    mkdir -p "$OUT/offsets"
    for r in $ROOT/*/; do n=$(basename "$r"); [ -f "$r/config.json" ] || continue; mkdir -p "$OUT/offsets/$n"; cp "$r"/config.json "$r"/metrics.json "$r"/eval.json "$r"/eval.txt "$OUT/offsets/$n/" 2>/dev/null; done
    cp $ROOT/*.log "$OUT/offsets/" 2>/dev/null
    tar -C $ROOT -cf "$OUT/offsets/tiny-vlm-offsets.tar" --exclude logs tiny-vlm-offsets; ls "$OUT/offsets" ;;
esac
