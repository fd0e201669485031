"""docs/benchmarks.md's model table: every row names a model folder md5 that dvc.lock records.

The table is written from locked smoke folders in matassets_tests/assets/test_model_provenance.py;
here the real page is checked against the real dvc.lock, and rows that dvc.lock does not back fail."""

from matassets.cli import main
from matassets.paths import PROJECT_ROOT
from matassets.reports.benchmarks import END, HEADER, START, check_section, device_cell, section
from matassets.versioning import lock_hashes

PAGE = PROJECT_ROOT / "docs" / "benchmarks.md"


def test_every_model_row_of_docs_benchmarks_md_is_in_dvc_lock(capsys):
    text = PAGE.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    assert check_section(text, PROJECT_ROOT, PAGE) == []
    assert main(["benchmarks-md", "--check"]) == 0


def _row(model: str, level: str, md5: str) -> list:
    return [
        f"`{model}`",
        level,
        "formation_energy",
        "MAE 0.1 eV/atom",
        0.9,
        1,
        "—",
        "1.0 min",
        "cpu",
        1.0,
        "abc",
        md5,
    ]


def test_a_row_whose_md5_dvc_lock_does_not_record_fails(tmp_path, capsys):
    (locked,) = lock_hashes(PROJECT_ROOT, "multitask_e3nn@std").values()  # the real dvc.lock
    good = _row("multitask_e3nn", "std", locked)
    assert len(good) == len(HEADER)
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# B\n\n{section([good])}\n", encoding="utf-8")
    assert check_section(page.read_text(), PROJECT_ROOT, page) == []
    assert main(["benchmarks-md", "--check", "--out", str(page)]) == 0

    stale = _row("multitask_e3nn", "std", "0" * 32 + ".dir")  # an overwritten model's numbers
    unlocked = _row("cgcnn_band_gap", "smoke", locked)  # no dvc.lock entry for that stage
    page.write_text(f"# B\n\n{section([good, stale, unlocked])}\n", encoding="utf-8")
    problems = check_section(page.read_text(), PROJECT_ROOT, page)
    assert len(problems) == 2
    assert "line 7: multitask_e3nn [std] names dvc.lock md5 '00000" in problems[0] and locked in problems[0]
    assert "line 8: cgcnn_band_gap [smoke]" in problems[1] and "no entry" in problems[1]
    capsys.readouterr()
    assert main(["benchmarks-md", "--check", "--out", str(page)]) == 1
    assert "FAILED" in capsys.readouterr().err

    page.write_text("# B\n", encoding="utf-8")
    assert check_section(page.read_text(), PROJECT_ROOT, page) == [f"{page}: no {START} ... {END} block"]


def test_out_to_a_new_file_writes_the_checkouts_page_with_the_roots_table(tmp_path, capsys):
    page = tmp_path / "new.md"  # a root without models: the table says so, the rest is the page's
    assert main(["benchmarks-md", "--root", str(tmp_path), "--out", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith(PAGE.read_text(encoding="utf-8")[: text.index(START)])
    assert f"{START}\n_No locked model table yet._\n{END}" in text
    capsys.readouterr()
    assert main(["benchmarks-md", "--check", "--out", str(tmp_path / "missing.md")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing.md'}: no such file\n"


def test_the_device_cell_names_the_gpu_and_reads_records_from_before_the_device_field():
    gpu = {"device": "cuda:0", "hardware": {"cuda": "NVIDIA H100 80GB HBM3"}}
    assert device_cell(gpu) == "cuda:0 (NVIDIA H100 80GB HBM3)"
    assert device_cell({"device": "cpu", "hardware": {"cuda": "NVIDIA H100 80GB HBM3"}}) == "cpu"
    assert device_cell({"hardware": {"cuda": None}}) == "cpu"  # a GNN record of an earlier version
    assert device_cell({"hardware": {"cuda": "A100"}}) == "cuda (A100)"  # auto took the GPU then
    assert device_cell({"preset": {"device": "cpu"}, "hardware": {"cuda": "A100"}}) == "cpu"  # MACE's
