#!/usr/bin/env bash
# Round 13 of the dynamics training (one GPU through the device tool; $OUT comes back).
# Why: at BlockRemoval's impact the outcome is two-sided at the input noise's scale (the blocks above
# the gap settle or start to tip), and a model trained with a squared error predicts the mean of the
# two, a spin that topples the tower in its rollout (docs/runs/blockremoval-impact-noise.py); round 12
# showed that less input noise alone does not remove it. An absolute error (`--model.loss l1`) makes
# the model predict the median instead, which lies in one of the two outcomes. Round 13: the shipped
# model + 3 epochs with the L1 loss at the training's input noise, half and a quarter of it, and the
# shipped recipe trained from scratch with the L1 loss (a 10 min 30 s cap), four at a time; then the
# same selection as round 12 (shipped model included). Same phases as round 12's recipe:
#   bash docs/runs/dynamics-gpu-train-round13.sh start 480 | wait 540 | select 540 | collect
ROUND=13 CANDIDATES="d13l1n100:1:1:l1:ft d13l1n050:0.5:1:l1:ft d13l1n025:0.25:1:l1:ft d13l1s:1:1:l1:scratch" \
  exec bash docs/runs/dynamics-gpu-train-round12.sh "$@"
