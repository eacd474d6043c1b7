#!/usr/bin/env bash
# Round 14 of the dynamics training (one GPU through the device tool; $OUT comes back).
# Why: input-noise injection trains the model to map a noisy state to the *clean* next state. Where
# the outcome is decided by less than the noise (BlockRemoval's impact: the blocks above the gap
# settle or tip), that target is the mean of two outcomes, a spin that topples the tower
# (docs/runs/blockremoval-impact-noise.py); less noise (round 12) and an absolute error (round 13)
# did not fix it. Round 14 gives the noisy state its own outcome instead: the play data records, next
# to every frame, a perturbed copy (the same noise: 1 mm, 0.015 m/s, 0.005 rad, 0.1 rad/s) and the
# state MuJoCo reaches from it 0.1 s later (`PlaySettings.perturb`), and the model trains on these
# pairs with no injected noise (`--data.pairs perturbed`), or on them and the clean transitions
# (`both`, half the epochs: the same number of steps). From random weights (gnn.yaml's recipe, 14
# epochs, a 12-minute cap) and from the shipped model (+3 / +2 epochs at lr 3e-4), four at a time.
# Selection afterwards on the 2-core CPU with docs/runs/imagination-variants.py on cached scenes (the
# same numbers as `physground ceiling` on 1,500 episodes per yes/no task from seeds 8,000,001, the
# learned grounder's scenes; never the reported range).
#   bash docs/runs/dynamics-gpu-train-round14.sh start 560 | wait 560 | collect
ROUND=14 SCRATCH_MINUTES=12 PLAY_EXTRA=", perturb=(0.001, 0.015, 0.005, 0.1)" DATA_EXTRA="--data.perturb [0.001,0.015,0.005,0.1]" \
  CANDIDATES="d14p:0:1:mse:scratch:perturbed:14 d14b:0:1:mse:scratch:both:7 d14pft:0:1:mse:ft:perturbed:3 d14bft:0:1:mse:ft:both:2" \
  exec bash docs/runs/dynamics-gpu-train-round12.sh "$@"
