#!/usr/bin/env bash
# Set up (as packaging/setup.sh --dev), lint, and run the whole test suite headlessly:
# GUI tests run on a virtual X server (Xvfb, Mesa llvmpipe). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup.sh --dev
# The checked rules first (pyproject.toml: [tool.ruff], [tool.importlinter]): lint, then the
# architecture (layers, no cycles, the engine never imports the GUI). Either failing fails the run.
.venv/bin/ruff check --no-cache .
.venv/bin/lint-imports --no-cache
if ! command -v xvfb-run >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; then
        bash packaging/install-system-deps.sh
    else
        echo "test: xvfb-run is missing; install the system packages with: sudo bash packaging/install-system-deps.sh" >&2
        exit 2
    fi
fi
# The interop tests convert our files with PlayCanvas' splat-transform where Node.js exists.
if command -v npm >/dev/null 2>&1 && [ ! -x .tools/node_modules/.bin/splat-transform ]; then
    npm install --silent --no-audit --no-fund --prefix .tools @playcanvas/splat-transform@3.7.0 \
        || echo "test: could not install splat-transform; its interop tests will be skipped" >&2
fi
export QT_QPA_PLATFORM=xcb
exec xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python -m pytest "$@"
