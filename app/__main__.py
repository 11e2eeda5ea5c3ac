"""``python -m app ARGS``: the same as the ``splatlab`` console script (app.main:main)."""

import sys

from app.main import main

sys.exit(main())
