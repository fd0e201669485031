"""The benchmarks' peak-memory reading measures the exec'ed process, not its parent (issue #17).

``ru_maxrss`` of a child started by fork + exec starts at the parent's size: every base of the graph
memory bench read ~392 MB and the sharded-vs-single comparison was an artefact of it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHILD = "from bench.common import peak_rss_mb; print(peak_rss_mb())"


def test_a_child_of_a_large_parent_reports_its_own_peak():
    ballast = np.ones(400 * 2**20 // 8)  # the parent holds 400 MB, resident
    assert ballast.sum() > 0
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, cwd=ROOT)
    child_peak = float(out.stdout.strip())
    assert 5 < child_peak < 200, f"child peak {child_peak:.0f} MB: the parent's 400 MB leaked into it"


def test_the_peak_follows_an_allocation_after_a_reset():
    code = (
        "import numpy as np; from pathlib import Path; from bench.common import peak_rss_mb\n"
        "Path('/proc/self/clear_refs').write_text('5'); base = peak_rss_mb()\n"
        "x = np.ones(150 * 2**20 // 8); x.sum(); print(base, peak_rss_mb())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    base, peak = map(float, out.stdout.split())
    assert 140 < peak - base < 200
