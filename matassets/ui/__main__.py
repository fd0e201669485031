"""``python -m matassets.ui``: the same as ``matassets ui``."""

import argparse
import sys

from matassets.ui.server import add_arguments, run_from_args

parser = argparse.ArgumentParser(prog="python -m matassets.ui", description=__doc__)
add_arguments(parser)
sys.exit(run_from_args(parser.parse_args()))
