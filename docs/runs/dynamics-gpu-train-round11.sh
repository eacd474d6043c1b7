#!/usr/bin/env bash
# Round 11 of the dynamics training (one GPU through the device tool; $OUT comes back).
# Why: the hybrid's yes/no answers are 0.3 points short of issue 6's 95 %, most of it BlockRemoval's
# imagination, and every lever on the 0.1 s one-step GNN is spent (rounds 2-10). The blocks above a
# removed block land 0.11 s after the removal, inside the model's second step: round 11 trains the
# shipped recipe (removals x2 mix, seed 0, 14 epochs, batch 512) with a 0.05 s step (--data.dt 0.05,
# linked to model.dt). 16,000 trajectories at 0.05 s are as many transitions as 32,000 at 0.1 s; the
# device time left allowed no more (trainer capped at 10 min 30 s). Selection afterwards on seeds
# 8000001.. (docs/runs/dynamics-select-tasks.sh, 2-core CPU), never on the reported range.
#   bash docs/runs/dynamics-gpu-train-round11.sh start 420   # set up, make the data, start training, wait
#   bash docs/runs/dynamics-gpu-train-round11.sh wait 540    # (repeat) wait up to N s more
#   bash docs/runs/dynamics-gpu-train-round11.sh collect     # model + logs to $OUT
# Needs `.whl` and `.gl` carried (../shared/device/README.md). Round 10's recipe with these settings.
ROUND=11 TRAJECTORIES=16000 DT=0.05 MAX_TIME=00:00:10:30 exec bash docs/runs/dynamics-gpu-train-round10.sh "$@"
