from dataclasses import fields

from matassets.levels import CGCNN, DATA, PARTITIONS, TrainPreset


def test_every_family_has_every_partition():
    for table in (DATA, CGCNN):
        assert tuple(table) == PARTITIONS


def test_data_sizes_follow_the_issue():
    assert DATA["smoke"].max_structures == 200
    assert DATA["lite"].max_structures == 1000
    assert all(DATA[p].max_structures is None for p in ("std", "pro", "max", "competition"))


def test_presets_are_sane():
    for preset in CGCNN.values():
        assert isinstance(preset, TrainPreset)
        assert preset.epochs > 0 and preset.batch_size > 1 and 0 < preset.lr < 0.1
        assert preset.patience > 0 and preset.grad_clip > 0
    assert {f.name for f in fields(TrainPreset)} >= {"epochs", "lr", "batch_size", "patience"}
