#!/usr/bin/env bash
# Round 2 of the dynamics training (one NVIDIA H100 through the device tool; $OUT comes back).
# Round 1 (dynamics-gpu-train-round1.sh) chose 3 message-passing steps over 5; its remaining errors
# were towers that fall in MuJoCo but stand in imagination. Three variants of the 3-step GNN test
# why: towers a third of the play mix (T), half the input noise (N), both (TN); plus the MLP
# baseline on the tower-weighted mix. Selection again on seeds 8000001.. only.
set -euo pipefail
R=/tmp/result; mkdir -p $R
MIX='[tower,removal,tower,drop,push,tower,poke,roll,flight]'
python3 -c "
from dynamics.data import PlaySettings, load_or_generate
mix = ('tower','removal','tower','drop','push','tower','poke','roll','flight')
for s in (PlaySettings(n_trajectories=12000, seed=0, max_tower=4), PlaySettings(n_trajectories=12000, seed=0, max_tower=4, scenarios=mix)):
    load_or_generate('/tmp/play', s, workers=15)"
common="--data.cache_dir /tmp/play --data.loader_workers 3 --trainer.max_time 00:00:06:30 --trainer.logger.init_args.save_dir $R/logs"
half="--model.noise_position 0.001 --model.noise_velocity 0.015 --model.noise_rotation 0.005 --model.noise_angular 0.1"
gnn="python3 -m experiments.cli train-dynamics --config experiments/configs/dynamics/gnn.yaml $common"
$gnn --data.scenarios "$MIX" --trainer.logger.init_args.name gnnT --export $R/gnnT > $R/gnnT.log 2>&1 &
$gnn $half --trainer.logger.init_args.name gnnN --export $R/gnnN > $R/gnnN.log 2>&1 &
$gnn $half --data.scenarios "$MIX" --trainer.logger.init_args.name gnnTN --export $R/gnnTN > $R/gnnTN.log 2>&1 &
python3 -m experiments.cli train-dynamics --config experiments/configs/dynamics/mlp.yaml $common --data.scenarios "$MIX" \
  --trainer.logger.init_args.name mlpT --export $R/mlpT > $R/mlpT.log 2>&1 &
wait
tar -C $R -cf $OUT/dynamics-train.tar .
