#!/usr/bin/env bash
# vlm-ppo training speed before and after the processor runs once per observation (PPO's update
# scored every minibatch through the image processor and one small op per answer option). Both
# trees train the long recipe's setting (full fine-tuning, 16 async envs, seed 0) for 2,048 steps,
# one after the other, alone on the GPU; prints env steps/s from each run's metrics.json.
#   bash analysis/vlm-ppo-speed-gpu.sh   # after device_setup; needs the previous tree in .old
#     (.old/perception/vlm.py and .old/agent/vlm_policy.py as of 3ebdc5d, carried with .whl and .gl)
set -u
. analysis/device-setup.sh
rm -rf /tmp/oldtree && mkdir -p /tmp/oldtree && cp -r agent perception envs dynamics experiments /tmp/oldtree/ && cp -r .old/. /tmp/oldtree/
args="train-agent --agent vlm-ppo --task TowerStability --seed 0 --steps 2048 --num-envs 16 --async-envs --accelerator cuda --lora-rank 0 --lr 1e-4"
for tree in /tmp/oldtree $PWD; do
  name=$([ "$tree" = "$PWD" ] && echo new || echo old)
  (cd $tree && PYTHONPATH=/tmp/site:$tree python3 -m physground.experiments.cli $args --out /tmp/speed-$name > /tmp/speed-$name.log 2>&1)
  python3 -c "import json; m = json.load(open('/tmp/speed-$name/metrics.json'))['final']; print('$name', 'env steps/s %.1f' % m['sps'], 'success %.3f' % m.get('success_rate', float('nan')))"
done
