"""``python -m harmonybridge.cli``."""

import sys

from harmonybridge.cli import main

sys.exit(main())
