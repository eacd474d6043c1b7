#!/usr/bin/env bash
# Round 9 of the dynamics training (one GPU through the device tool; $OUT comes back).
# Why: rounds 4-8 trained one-step models only; the tall removals (blocks above the gap dropping
# together) stay the hybrid's largest error (BlockRemoval 90.0 % on 1,000 episodes). Round 9 tries the
# multi-step rollout loss (`--model.rollout_steps K`, back-propagated through the model's own K-step
# rollout) as a fine-tuning of the shipped model (`--model.init_from`) on the same 24,000 trajectories
# (seed 0, removals x2 mix), three at a time: K = 3, K = 2, and K = 1 as the control (the same extra
# epochs at the same learning rate without the rollout loss). Selection afterwards on seeds 8000001..
# (docs/runs/dynamics-select-tasks.sh, 2-core CPU), never on the reported range.
set -euo pipefail
. docs/runs/device-setup.sh; device_setup
set -f
R=/tmp/result9; mkdir -p $R
MIXR='[tower,removal,tower,drop,push,tower,removal,poke,roll,flight]'
python3 -c "
from dynamics.data import PlaySettings, load_or_generate
mixr = ('tower','removal','tower','drop','push','tower','removal','poke','roll','flight')
load_or_generate('/tmp/play', PlaySettings(n_trajectories=24000, seed=0, max_tower=6, scenarios=mixr), workers=15)"
common="--data.cache_dir /tmp/play --data.loader_workers 5 --data.max_tower 6 --data.n_trajectories 24000 --data.scenarios $MIXR
  --model.init_from dynamics/checkpoints/gnn --model.lr 0.0003 --trainer.max_epochs 3 --trainer.max_time 00:00:07:10
  --seed_everything 0 --trainer.logger.init_args.save_dir $R/logs"
gnn="python3 -m experiments.cli train-dynamics --config experiments/configs/dynamics/gnn.yaml $common"
for k in 3 2 1; do
  $gnn --model.rollout_steps $k --trainer.logger.init_args.name d9k$k --export $R/d9k$k > $R/d9k$k.log 2>&1 &
done
wait
set +f; tail -n 1 $R/*.log
tar -C $R -cf $OUT/dynamics-train-round9.tar --exclude logs .
tar -C $R -cf $OUT/dynamics-train-round9-logs.tar logs
