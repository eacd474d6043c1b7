#!/usr/bin/env bash
# physground's GRPO against TRL's GRPOTrainer on the device tool's GPU host (`physground bench-grpo`,
# agent/grpo_throughput.py): samples/s at equal settings. The host lacks TRL and its dependencies
# (68 MB of wheels: trl, accelerate, datasets, pyarrow, pandas, ...), so they travel as one tar in
# 24 MiB chunks (analysis/device-setup.sh: split_chunks / stash_chunks / join_chunks). Steps:
#   here:  bash analysis/grpo-throughput-gpu.sh split             # the wheels, tarred and split into .carry/trl.*
#   there: bash analysis/grpo-throughput-gpu.sh setup             # carry [".whl", ".gl"]
#   there: bash analysis/grpo-throughput-gpu.sh stash             # once per chunk: carry [".carry/trl.part-aa", ".carry/trl.sha256"], -ab, -ac
#   there: bash analysis/grpo-throughput-gpu.sh run [ARGS]        # joins, installs, runs bench-grpo --accelerator cuda ARGS; JSON to $OUT
# ARGS, e.g. --vlm tiny --repeats 2 (default settings: 8 prompts x 16 answers, minibatch 32, 3 timed updates).
# A SmolLM2 VLM (--vlm DIR of its parts) needs its base stashed as well (analysis/smollm2-pretrain-gpu.sh stash).
set -u
. analysis/device-setup.sh
WHEELS="trl==1.16.0 accelerate==1.16.0 datasets==5.2.0 pyarrow==26.0.1 pandas==3.1.1 dill==0.4.1 xxhash==4.1.0 multiprocess==0.70.19 fsspec==2026.9.0 python-dateutil pytz tzdata"
case "$1" in
  split)
    rm -rf /tmp/trl-wheels && mkdir -p /tmp/trl-wheels || exit 1
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
      --python-version 3.12 --implementation cp -d /tmp/trl-wheels $WHEELS || exit 1
    tar cf /tmp/trl-wheels.tar -C /tmp trl-wheels && split_chunks /tmp/trl-wheels.tar trl ;;
  setup)
    device_setup || exit 1
    nproc; nvidia-smi -L ;;
  stash) stash_chunks trl ;;
  run)
    shift
    join_chunks trl /tmp/trl-wheels.tar || exit 1
    tar xf /tmp/trl-wheels.tar -C /tmp && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/trl-wheels/*.whl || exit 1
    python3 -c "import trl, datasets; print('trl', trl.__version__, 'datasets', datasets.__version__)" || exit 1
    python3 -m physground.experiments.cli bench-grpo --accelerator cuda --out "$OUT/bench-grpo.json" "$@" 2>&1 | grep -v -i "warn" | tail -40 ;;
esac
