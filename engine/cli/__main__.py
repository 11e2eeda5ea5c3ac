"""``python -m engine.cli ARGS``: the engine's commands (``splatlab gui`` is the app's: ``python -m app``)."""

import sys

from engine.cli import main

sys.exit(main())
