"""``python -m matassets.cli``."""

import sys

from matassets.cli import main

sys.exit(main())
