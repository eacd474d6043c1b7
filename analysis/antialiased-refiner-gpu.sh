# The position refiner trained with the shipped recipe on aliased (offsamples 0, as physground renders)
# and on 4x multisampled renders, then the selection episodes of the yes/no tasks grounded with each
# under its own rendering and answered by the shipped GNN (analysis/antialiased-refiner.py), on the
# device host; carry [".whl", ".gl"]. Phases, each in its own call (the machine stays warm between):
#   bash analysis/antialiased-refiner-gpu.sh train      # both refiners, side by side, detached
#   bash analysis/antialiased-refiner-gpu.sh wait SECONDS
#   bash analysis/antialiased-refiner-gpu.sh select [N] # 6 caches (2 renderings x 3 tasks), then eval
# The host renders through NVIDIA's EGL (not the 2-core CPU's Mesa): compare its rows with each other.
source analysis/device-setup.sh
trained() { ls out/aa/refiner-s*/refiner.json 2>/dev/null | wc -l; }
case "$1" in
  train)
    device_setup
    mkdir -p out/aa
    for s in 0 4; do
      PHYSGROUND_OFFSAMPLES=$s setsid nohup python3 analysis/antialiased-refiner.py train "out/aa/refiner-s$s" --workers 7 > "out/aa/train-s$s.log" 2>&1 &
    done
    wait_while "[a]ntialiased-refiner.py train" "${2:-480}" trained ;;
  wait)
    wait_while "[a]ntialiased-refiner.py train" "$2" trained ;;
  select)  # [EPISODES, default 1500]
    for s in 0 4; do
      for task in TowerStability BlockRemoval RollOff; do
        (PHYSGROUND_OFFSAMPLES=$s OMP_NUM_THREADS=2 python3 analysis/antialiased-refiner.py cache $task "${2:-1500}" "out/aa/refiner-s$s" "out/aa/sel-$task-s$s.json" &&
         OMP_NUM_THREADS=2 python3 analysis/imagination-variants.py eval $task "out/aa/sel-$task-s$s.json" shipped --json "$OUT/eval-$task-s$s.json") > "out/aa/select-$task-s$s.log" 2>&1 &
      done
    done
    wait ;;
esac
mkdir -p "$OUT"
for f in out/aa/refiner-s*/refiner.json; do [ -f "$f" ] && cp "$f" "$OUT/$(basename "$(dirname "$f")").json"; done
tail -qn3 out/aa/*.log 2>/dev/null | grep -v Loading
