# Sourced by the device-tool recipes in analysis/ (run from the repository root, with `.whl` and
# `.gl` carried: ../shared/device/README.md). `device_setup` unpacks the carried GL libraries,
# installs the carried wheels into /tmp/site and links the working tree's packages as the
# `physground` namespace into /tmp/ns (the layout's folders are physground.envs, ...); the exports
# make both importable.
device_setup() {
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  mkdir -p /tmp/ns/physground
  for p in envs perception dynamics agent experiments; do ln -sfn "$PWD/$p" "/tmp/ns/physground/$p"; done
}
export PYTHONPATH=/tmp/site:/tmp/ns MUJOCO_GL=egl PYTHONUNBUFFERED=1
# wait_while PATTERN SECONDS PROGRESS: while a process whose command line matches PATTERN runs (at most
# SECONDS), print the time and what the function PROGRESS prints every 30 s; then "still running" or
# "ended". The device recipes start their jobs detached and call this to wait across calls.
wait_while() {
  local until=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -lt "$until" ] && pgrep -f "$1" > /dev/null; do sleep 30; echo "$(date +%T) $($3)"; done
  pgrep -f "$1" > /dev/null && echo "still running" || echo "ended"
}
# make_play N [EXTRA]: N play trajectories of the shipped GNN's recipe (seed 0, towers of up to 6 blocks,
# removals x2 mix; EXTRA: more PlaySettings arguments, e.g. ", dt=0.05") into /tmp/play, on 15 processes.
make_play() {
  local start
  start=$(date +%s)
  python3 -c "
from physground.dynamics.data import PlaySettings, load_or_generate
mixr = ('tower','removal','tower','drop','push','tower','removal','poke','roll','flight')
load_or_generate('/tmp/play', PlaySettings(n_trajectories=$1, seed=0, max_tower=6, scenarios=mixr${2:-}), workers=15)" || return 1
  echo "play data: $(( $(date +%s) - start )) s"
}
# Files larger than one call may carry (64 MiB with the working tree) travel in 24 MiB chunks over
# several calls to one warm machine, which keeps /tmp between calls (call back to back: it is
# released after 30 idle seconds).
# here:  split_chunks FILE NAME    -> .carry/NAME.part-aa, -ab, ... and .carry/NAME.sha256 (git-ignored)
# there: stash_chunks NAME         (once per call, carrying one chunk and NAME.sha256) -> /tmp/stash
# there: join_chunks NAME OUTFILE  joins the chunks and checks the SHA-256; fails naming what is missing
split_chunks() {
  mkdir -p .carry && rm -f .carry/"$2".part-* && split -b 24M "$1" .carry/"$2".part- || return 1
  sha256sum "$1" | cut -d' ' -f1 > .carry/"$2".sha256
  grep -qx '/.carry/' .git/info/exclude 2>/dev/null || echo /.carry/ >> .git/info/exclude
  ls -la .carry/"$2".*
}
stash_chunks() { mkdir -p /tmp/stash && cp -v .carry/"$1".* /tmp/stash/ && ls -la /tmp/stash; }
join_chunks() {
  cat /tmp/stash/"$1".part-* > "$2" || return 1
  local got; got=$(sha256sum "$2" | cut -d' ' -f1)
  [ "$got" = "$(cat /tmp/stash/"$1".sha256)" ] || { echo "joined $2 has SHA-256 $got: a chunk of $1 is missing or broken"; ls -la /tmp/stash; return 1; }
}
