# Render-and-compare grounding (analysis/render-and-compare-grounding.py) on the device host: the
# yes/no block tasks, aliased (offsamples 0, as physground renders) and 4x multisampled observations,
# x, y and z searched; 4 shards of 100 selection episodes each per (task, samples), 16 processes.
# Needs the learned grounder's cached scenes (imagination-variants.py cache, gzipped) in out/sel, carried:
#   carry [".whl", ".gl", "out/sel"];  command: bash analysis/render-and-compare-gpu.sh
# The host renders through NVIDIA's EGL: observation and hypotheses come from the same renderer, so
# the comparison is self-consistent, but its pixels are not the 2-core CPU's (Mesa).
source analysis/device-setup.sh
device_setup
for task in TowerStability BlockRemoval; do
  for samples in 0 4; do
    for shard in 0 1 2 3; do
      OMP_NUM_THREADS=1 python3 analysis/render-and-compare-grounding.py "$task" 100 "out/sel/sel-$task.json.gz" \
        "$OUT/rc-$task-s$samples-$shard.json" --axes xyz --samples "$samples" --first $((shard * 100)) \
        > "$OUT/rc-$task-s$samples-$shard.log" 2>&1 &
    done
  done
done
progress() { tail -qn1 "$OUT"/rc-*.log | grep -c episodes; }
wait_while "[r]ender-and-compare-grounding" 540 progress
# The device tool brings back a few files only: one summary without the refined scenes, one archive.
python3 - <<'PY'
import glob, json, os
out = os.environ["OUT"]
rows = {}
for path in sorted(glob.glob(f"{out}/rc-*.json")):
    row = json.load(open(path))
    row.pop("refined")
    rows[os.path.basename(path)] = row
json.dump(rows, open(f"{out}/rc-summary.json", "w"), indent=1)
PY
tar czf "$OUT/rc-shards.tgz" -C "$OUT" $(cd "$OUT" && ls rc-*-?.json rc-*-?.log) && rm "$OUT"/rc-*-?.json "$OUT"/rc-*-?.log
