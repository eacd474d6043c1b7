"""Dynamics model selection: event accuracy of candidate models on the selection range (seeds
8000001.., never the reported range 7000001..), the suites of `physground eval-dynamics`.

    python analysis/dynamics-select.py OUT.json MODEL_DIR [MODEL_DIR ...] [--device cuda] [--per-event 200]
"""

import argparse
import json

import numpy as np
import torch

from physground.dynamics.checkpoint import load_dynamics
from physground.dynamics.evaluation import event_accuracy, event_suites
from physground.envs.files import atomic_write_text

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("models", nargs="+")
parser.add_argument("--device", default="cpu")
parser.add_argument("--per-event", type=int, default=200)
args = parser.parse_args()
suites = event_suites(args.per_event, 8_000_001)
results = {}
for folder in args.models:
    model = load_dynamics(folder, args.device)
    with torch.no_grad():
        acc = event_accuracy(model.step, suites, args.device)
    towers = [v for k, v in acc.items() if k.startswith(("tower", "ball"))]
    results[folder] = {**acc, "mean of tower and ball events": float(np.mean(towers))}
    print(folder, json.dumps({k: round(v, 3) for k, v in results[folder].items()}), flush=True)
atomic_write_text(args.out, json.dumps(results, indent=1))
