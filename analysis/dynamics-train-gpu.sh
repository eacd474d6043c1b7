#!/usr/bin/env bash
# Train one dynamics-model candidate on the device tool's GPU machine ($OUT comes back), in calls of
# under 10 minutes: the shipped GNN's recipe (removals x2 mix, seed 0, towers of up to 6 blocks,
# experiments/configs/dynamics/gnn.yaml) with what the variables change. Choose among candidates
# afterwards on seeds 8000001.. (analysis/dynamics-select-tasks.sh, CPU), never on the reported range.
#   NAME=d16 TRAJECTORIES=16000 DT=0.05 MAX_TIME=00:00:10:30 bash analysis/dynamics-train-gpu.sh start 420
#   NAME=d16 bash analysis/dynamics-train-gpu.sh wait 540     # (repeat) wait up to N s more
#   NAME=d16 bash analysis/dynamics-train-gpu.sh collect      # model + logs to $OUT
# Variables: NAME (the candidate, default d), TRAJECTORIES (play trajectories, default 48000), DT (the
# model's step; default the CLI's 0.1 s), MAX_TIME (trainer cap), SEED (default 0), EXTRA (more
# train-dynamics arguments, e.g. "--model.rollout_steps 3 --model.loss l1").
# Needs `.whl` and `.gl` carried (../shared/device/README.md). Rounds 1-15 of docs/dynamics.md ran
# per-round copies of this recipe; their exact scripts are in git history (docs/runs/ at 506452c).
set -u
ROUND=${NAME:-d}
TRAJECTORIES=${TRAJECTORIES:-48000}
SEED=${SEED:-0}
EXTRA=${EXTRA:-}
MAX_TIME=${MAX_TIME:-00:00:14:00}
DT_SETTING=${DT:+, dt=$DT}  # unset: PlaySettings' and the CLI's default step
DT_ARG=${DT:+ --data.dt $DT}
R=/tmp/result$ROUND
. analysis/device-setup.sh
progress() { tail -c 400 $R/$ROUND.log | tr '\r' '\n' | grep -a Epoch | tail -n 1 | cut -c1-120; }
wait_for() { wait_while "physground.experiments.cli train-dynamics" "$1" progress; }
case "$1" in
  start)
    device_setup || exit 1; nproc; nvidia-smi -L; mkdir -p $R
    set -f
    MIXR='[tower,removal,tower,drop,push,tower,removal,poke,roll,flight]'
    make_play $TRAJECTORIES "$DT_SETTING" || exit 1
    setsid nohup python3 -m physground.experiments.cli train-dynamics --config experiments/configs/dynamics/gnn.yaml \
      --data.cache_dir /tmp/play --data.loader_workers 8 --data.max_tower 6 --data.n_trajectories $TRAJECTORIES$DT_ARG \
      --data.scenarios $MIXR --trainer.max_time $MAX_TIME --trainer.logger.init_args.save_dir $R/logs \
      --seed_everything $SEED $EXTRA --trainer.logger.init_args.name $ROUND --export $R/$ROUND > $R/$ROUND.log 2>&1 < /dev/null &
    set +f
    wait_for "${2:-480}" ;;
  wait) wait_for "${2:-540}" ;;
  collect)
    tail -n 3 $R/$ROUND.log | cut -c1-300
    tar -C $R -cf $OUT/dynamics-train-$ROUND.tar --exclude logs . && tar -C $R -cf $OUT/dynamics-train-$ROUND-logs.tar logs
    ls -la $OUT ;;
esac
