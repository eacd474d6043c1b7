#!/usr/bin/env bash
# Round 8, seed spread (one GPU through the device tool; $OUT comes back): the shipped recipe on
# 24,000 play trajectories (docs/runs/dynamics-gpu-train-round8.sh, d8r-s0) with initialisation seeds
# 1 and 2, two at a time, to see whether the gain over 12,000 trajectories is the data or the seed.
# Not a selection round: the shipped model stays whatever these score (docs/runs/dynamics-select-tasks.sh).
set -euo pipefail
. docs/runs/device-setup.sh; device_setup
set -f
R=/tmp/result8s; mkdir -p $R
MIXR='[tower,removal,tower,drop,push,tower,removal,poke,roll,flight]'
python3 -c "
from dynamics.data import PlaySettings, load_or_generate
mixr = ('tower','removal','tower','drop','push','tower','removal','poke','roll','flight')
load_or_generate('/tmp/play', PlaySettings(n_trajectories=24000, seed=0, max_tower=6, scenarios=mixr), workers=15)"
common="--data.cache_dir /tmp/play --data.loader_workers 5 --data.max_tower 6 --data.n_trajectories 24000 --trainer.max_time 00:00:07:40 --trainer.logger.init_args.save_dir $R/logs --data.scenarios $MIXR"
gnn="python3 -m experiments.cli train-dynamics --config experiments/configs/dynamics/gnn.yaml $common"
for seed in 1 2; do
  $gnn --seed_everything $seed --trainer.logger.init_args.name d8r-s$seed --export $R/d8r-s$seed > $R/d8r-s$seed.log 2>&1 &
done
wait
set +f; tail -n 1 $R/*.log
tar -C $R -cf $OUT/dynamics-train-round8-seeds.tar --exclude logs .
