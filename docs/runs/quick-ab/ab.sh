#!/bin/bash
# The quick preset three ways on the device tool's host CPU, concurrently, each pinned to 2 cores of
# its own: "old" (one renderer per world, spawned cell processes), "share" (shared renderers) and
# "fork" (shared renderers, cells forked from a preloading fork server). Run from the root of a checkout
# of commit e89a6ca (the patches are undone from its tree), with `.whl` and `.gl` carried:
#   LIMIT=480 bash docs/runs/quick-ab/ab.sh       # results under $OUT/ab; see README.md here
source docs/runs/device-setup.sh; device_setup || exit 1
lscpu | grep -E "^CPU\(s\)|Thread|Core|Socket|Model name"; lscpu -e | head -20
for v in old share fork; do mkdir -p /tmp/$v && tar --exclude=./.whl --exclude=./.gl --exclude=./docs/runs/quick-ab -cf - . | tar -xf - -C /tmp/$v; done
(cd /tmp/share && patch -s -R -p1 < $OLDPWD/docs/runs/quick-ab/forkserver.patch)
(cd /tmp/old && patch -s -R -p1 < $OLDPWD/docs/runs/quick-ab/forkserver.patch && patch -s -R -p1 < $OLDPWD/docs/runs/quick-ab/renderer.patch && rm -f envs/renderers.py tests/envs/test_renderers.py)
grep -c forkserver /tmp/*/experiments/ablation.py; ls /tmp/*/envs/renderers.py
cores=(0,1 2,3 4,5); i=0
for v in old share fork; do
  (cd /tmp/$v && s=$(date +%s) && PYTHONPATH=/tmp/site:/tmp/$v timeout ${LIMIT:-470} taskset -c ${cores[$i]} python3 -m experiments.cli ablate --preset quick --workers 2 --out /tmp/$v/out > /tmp/$v.log 2>&1; echo "$v rc=$? wall=$(( $(date +%s) - s ))" > /tmp/$v.time) &
  i=$((i+1))
done
wait
mkdir -p $OUT/ab
for v in old share fork; do cat /tmp/$v.time; ls /tmp/$v/out/cells 2>/dev/null | wc -l; mkdir -p $OUT/ab/$v; cp /tmp/$v/out/transfer.csv /tmp/$v/out/summary.json $OUT/ab/$v/ 2>/dev/null; for c in /tmp/$v/out/cells/*/cell.json; do n=$(basename $(dirname $c)); python3 -c "import json,sys; d=json.load(open('$c')); print('$n', d['seconds']['train'], d['seconds']['eval'], round(d['peak_rss_mb']))"; done > $OUT/ab/$v/cells.txt; tail -c 600 /tmp/$v.log > $OUT/ab/$v/log-tail.txt; cat /tmp/$v.time >> $OUT/ab/times.txt; done
cmp /tmp/old/out/transfer.csv /tmp/share/out/transfer.csv && echo "old==share"; cmp /tmp/old/out/transfer.csv /tmp/fork/out/transfer.csv && echo "old==fork"
