#!/usr/bin/env bash
# Round 3 of the dynamics training (one NVIDIA H100 through the device tool; $OUT comes back).
# Round 2's best variant (TN: towers a third of the play mix, half the input noise) is retrained
# with two more initialisation seeds (is the round-2 ranking more than noise?), with 4
# message-passing steps, and for 17 instead of 14 epochs. Selection on seeds 8000001.. only.
set -euo pipefail -f
R=/tmp/result; mkdir -p $R
MIX='[tower,removal,tower,drop,push,tower,poke,roll,flight]'
python3 -c "
from dynamics.data import PlaySettings, load_or_generate
mix = ('tower','removal','tower','drop','push','tower','poke','roll','flight')
load_or_generate('/tmp/play', PlaySettings(n_trajectories=12000, seed=0, max_tower=4, scenarios=mix), workers=15)"
common="--data.cache_dir /tmp/play --data.loader_workers 3 --trainer.logger.init_args.save_dir $R/logs --data.scenarios $MIX"
half="--model.noise_position 0.001 --model.noise_velocity 0.015 --model.noise_rotation 0.005 --model.noise_angular 0.1"
gnn="python3 -m experiments.cli train-dynamics --config experiments/configs/dynamics/gnn.yaml $common $half"
$gnn --trainer.max_time 00:00:06:30 --seed_everything 1 --trainer.logger.init_args.name gnnTN-s1 --export $R/gnnTN-s1 > $R/gnnTN-s1.log 2>&1 &
$gnn --trainer.max_time 00:00:06:30 --seed_everything 2 --trainer.logger.init_args.name gnnTN-s2 --export $R/gnnTN-s2 > $R/gnnTN-s2.log 2>&1 &
$gnn --trainer.max_time 00:00:06:30 --model.message_passing 4 --trainer.logger.init_args.name gnnTN-mp4 --export $R/gnnTN-mp4 > $R/gnnTN-mp4.log 2>&1 &
$gnn --trainer.max_time 00:00:07:45 --trainer.max_epochs 17 --trainer.logger.init_args.name gnnTN-e17 --export $R/gnnTN-e17 > $R/gnnTN-e17.log 2>&1 &
wait
tar -C $R -cf $OUT/dynamics-train.tar .
