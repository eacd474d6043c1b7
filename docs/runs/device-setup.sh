# Sourced by the device-tool recipes in docs/runs (run from the repository root, with `.whl` and
# `.gl` carried: ../shared/device/README.md). `device_setup` unpacks the carried GL libraries and
# installs the carried wheels into /tmp/site; the exports make the working tree importable there.
device_setup() {
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
}
export PYTHONPATH=/tmp/site:$PWD MUJOCO_GL=egl PYTHONUNBUFFERED=1
# wait_while PATTERN SECONDS PROGRESS: while a process whose command line matches PATTERN runs (at most
# SECONDS), print the time and what the function PROGRESS prints every 30 s; then "still running" or
# "ended". The device recipes start their jobs detached and call this to wait across calls.
wait_while() {
  local until=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -lt "$until" ] && pgrep -f "$1" > /dev/null; do sleep 30; echo "$(date +%T) $($3)"; done
  pgrep -f "$1" > /dev/null && echo "still running" || echo "ended"
}
