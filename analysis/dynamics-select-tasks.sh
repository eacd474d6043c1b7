#!/usr/bin/env bash
# Round 6 of the dynamics selection (2-core CPU, no training): the round-4/5 candidates judged by what
# the hybrid agent reads from them — the answer of each yes/no task straight from the imagined rollout
# (`physground ceiling`), from the learned grounder's scenes and from the simulator's, on 1,500
# episodes per task from the selection range (seeds 8,000,001..; evaluation uses 50,000,000..).
#   MODELS="DIR ..." bash analysis/dynamics-select-tasks.sh OUTDIR
# One torch thread per process: two processes with torch's default of two threads each on two cores
# ran more than 5x slower (OpenMP threads waiting for each other).
set -eu
out=$1; mkdir -p "$out"
for m in $MODELS; do
  name=$(basename "$m")
  for task in BlockRemoval TowerStability RollOff; do
    OMP_NUM_THREADS=1 MUJOCO_GL=egl physground ceiling --task $task --episodes 1500 --seed 8000001 \
      --dynamics "$m" --out "$out/$task-$name.json" > /dev/null
  done
done
python3 - "$out" <<'PY'
import glob, json, sys
rows = {}
for f in sorted(glob.glob(f"{sys.argv[1]}/*-*.json")):
    d = json.load(open(f))
    model = d["dynamics"].rstrip("/").split("/")[-1]
    for source in ("learned grounder", "simulator scenes"):
        rows.setdefault((model, source), {})[d["task"]] = d["accuracy"][f"imagination, {source}"]
for (model, source), acc in rows.items():
    mean = sum(acc.values()) / len(acc)
    print(f"{model:10s} {source:17s} " + "  ".join(f"{t} {100 * v:.1f}" for t, v in sorted(acc.items())) + f"  mean {100 * mean:.2f}")
PY
