# The position refiner trained with the shipped recipe (`physground train-refiner` defaults) on the
# device's GPU, then the hybrid's answers read from its imagination (`physground ceiling`) on the
# yes/no tasks' selection episodes (1,500 from seed 8,000,001) and evaluation episodes (the 1,000
# `eval-agent` uses): with the new refiner on the default (anti-aliased) renders, and, paired on the
# same episodes, the previous pipeline (the shipped grounder on aliased renders, --multisamples 0).
# Carry [".whl", ".gl"]. Phases, each in its own call (the machine stays warm between):
#   bash analysis/refiner-gpu.sh train [SECONDS]   # detached; waits up to SECONDS (default 500)
#   bash analysis/refiner-gpu.sh wait SECONDS
#   bash analysis/refiner-gpu.sh ceiling           # 12 runs side by side; JSON into $OUT
# Everything that comes back is packed in $OUT/refiner.tgz (the tool returns only a few files).
source analysis/device-setup.sh
G=out/refiner
trained() { if [ -f $G/refiner.json ]; then echo trained; else tail -c 300 out/refiner-train.log 2>/dev/null | tr '\r' '\n' | grep -a "it/s\|s/it" | tail -1; fi; }
case "$1" in
  train)
    device_setup; nproc; nvidia-smi -L
    mkdir -p out; rm -rf $G $G-base; cp -r perception/checkpoints/learned-grounder $G-base
    setsid nohup python3 -m physground.experiments.cli train-refiner --grounder $G-base --out $G --workers 14 --loader-workers 8 > out/refiner-train.log 2>&1 &
    wait_while "[t]rain-refiner" "${2:-500}" trained ;;
  wait)
    wait_while "[t]rain-refiner" "$2" trained ;;
  ceiling)
    mkdir -p out/ceiling
    for task in TowerStability BlockRemoval RollOff; do
      for range in selection evaluation; do
        if [ $range = selection ]; then episodes="--episodes 1500 --seed 8000001"; else episodes="--episodes 1000"; fi
        OMP_NUM_THREADS=1 python3 -m physground.experiments.cli ceiling --task $task $episodes --grounder $G --out out/ceiling/new-$range-$task.json > out/ceiling-new-$range-$task.log 2>&1 &
        OMP_NUM_THREADS=1 python3 -m physground.experiments.cli ceiling --task $task $episodes --multisamples 0 --out out/ceiling/old-$range-$task.json > out/ceiling-old-$range-$task.log 2>&1 &
      done
    done
    wait ;;
esac
mkdir -p "$OUT"
tar czf "$OUT/refiner.tgz" --ignore-failed-read $G/refiner.json $G/refiner.safetensors $G/README.md out/ceiling out/*.log 2>/dev/null
tail -qn2 out/*.log 2>/dev/null | grep -av Loading | tail -30
