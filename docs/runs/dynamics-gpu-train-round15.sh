#!/usr/bin/env bash
# Round 15 of the dynamics training (one GPU through the device tool; $OUT comes back).
# Why: round 14's models, trained on perturbed pairs (a noisy copy of each play frame and MuJoCo's
# own state 0.1 s after it), learned sharp outcomes — they miss almost no fall (TowerStability 1 of
# the 1,500 selection episodes, the shipped model 25) — but imagine 140-230 standing towers falling:
# without input-noise injection's targets, which lead a noisy state back to the clean next state,
# a rollout's own small errors pile up. Round 15 keeps both halves: the motion of the noisy state is
# MuJoCo's, but the target's position and orientation are moved back by the perturbation's
# displacement and turn (`--data.undo_displacement true`), so a displaced body that does not move is
# taught to return to where it was recorded. Same play data as round 14 (its perturbed pairs), from
# random weights (14 epochs; `both`: 7) and from the shipped model (+3 epochs), three at a time.
# Selection afterwards on the 2-core CPU (docs/runs/imagination-variants.py on cached selection
# scenes; the same numbers as `physground ceiling --episodes 1500 --seed 8000001`).
#   bash docs/runs/dynamics-gpu-train-round15.sh start 560 | wait 560 | collect
ROUND=15 SCRATCH_MINUTES=11 PLAY_EXTRA=", perturb=(0.001, 0.015, 0.005, 0.1)" \
  DATA_EXTRA="--data.perturb [0.001,0.015,0.005,0.1] --data.undo_displacement true" \
  CANDIDATES="d15u:0:1:mse:scratch:perturbed:14 d15ub:0:1:mse:scratch:both:7 d15uft:0:1:mse:ft:perturbed:3" \
  exec bash docs/runs/dynamics-gpu-train-round12.sh "$@"
