"""What the platform writes for people to open stays inert: ``predictions.csv`` (every model CSV goes
through ``ModelFolder.write_rows`` / ``write_csv``) with hostile ids — a spreadsheet formula
(``=HYPERLINK(…)``, ``+``, ``-``, ``@``), a newline, an ESC sequence that would recolour or rewrite a
terminal, a right-to-left override — keeps every row on one line, no cell starts a formula, and no
control character reaches the file; numbers are written as they were.
"""

from __future__ import annotations

import csv

from matassets.paths import Layout
from matassets.training.model_folder import ModelFolder

HOSTILE = {
    '=HYPERLINK("http://x","y")': '\'=HYPERLINK("http://x","y")',
    "+1+cmd|' /C calc'!A0": "'+1+cmd|' /C calc'!A0",
    "-2+3": "'-2+3",
    "@SUM(A1)": "'@SUM(A1)",
    "mp-1\nmp-2": "mp-1\\nmp-2",
    "mp-\x1b[31mred": "mp-\\x1b[31mred",
    "mp-\u202eevil": "mp-\\u202eevil",
    "\tmp-3": "\\tmp-3",
    "mp-149": "mp-149",
}


def test_model_csv_cells_are_escaped(tmp_path):
    folder = ModelFolder(Layout(tmp_path), "cgcnn_formation_energy", "smoke")
    folder.stage()
    rows = [{"id": i, "split": "test", "y_true": -0.5, "y_pred": 1e-3} for i in HOSTILE]
    path = folder.write_rows("predictions.csv", rows)
    data = path.read_bytes()
    assert b"\x1b" not in data and "\u202e".encode() not in data
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == 1 + len(HOSTILE)  # a newline in an id does not split its row
    with open(path, newline="", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    assert [r["id"] for r in read] == list(HOSTILE.values())
    assert {r["y_true"] for r in read} == {"-0.5"} and {r["y_pred"] for r in read} == {"0.001"}

    other = folder.write_csv("table.csv", ["id", "value"], [[i, -1.5] for i in HOSTILE])
    with open(other, newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert [r[0] for r in table[1:]] == list(HOSTILE.values()) and {r[1] for r in table[1:]} == {"-1.5"}
