# Sourced by the device-tool recipes in docs/runs (run from the repository root, with `.whl` and
# `.gl` carried: ../shared/device/README.md). `device_setup` unpacks the carried GL libraries and
# installs the carried wheels into /tmp/site; the exports make the working tree importable there.
device_setup() {
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
}
export PYTHONPATH=/tmp/site:$PWD MUJOCO_GL=egl PYTHONUNBUFFERED=1
