#!/usr/bin/env bash
# Set up SplatLab in .venv at the repository root.
#   bash packaging/setup.sh          # the app and the CLI
#   bash packaging/setup.sh --dev    # plus the test tools
# Both install Ray (the [batch] extra) for splatlab batch.
# On machines without an NVIDIA GPU torch is pinned to the CPU build 2.13.0 through
# packaging/constraints-cpu.txt, and the script fails if any CUDA wheel was installed anyway.
# Elsewhere than this project's machines, point pip at the PyTorch CPU wheels first:
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu bash packaging/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
extras="[batch]"  # Ray, for splatlab batch
[ "${1:-}" = "--dev" ] && extras="[dev,batch]"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# PYTHONWARNINGS quiets setuptools' editable-install banner in the build subprocess
pip=(env PYTHONWARNINGS=ignore .venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    gpu=1
    "${pip[@]}" install -q -e ".$extras"
else
    gpu=0
    "${pip[@]}" install -q -c packaging/constraints-cpu.txt -e ".$extras"
fi
if [ "$gpu" = 0 ] && "${pip[@]}" list 2>/dev/null | grep -qi '^nvidia-'; then
    echo "setup: CUDA wheels were installed on a machine without a GPU:" >&2
    "${pip[@]}" list 2>/dev/null | grep -i '^nvidia-' >&2
    exit 1
fi
echo "setup: ready in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))" >&2
