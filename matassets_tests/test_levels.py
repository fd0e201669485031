from dataclasses import fields, replace

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


def test_a_data_set_s_batch_size_scales_to_its_training_crystals():
    """levels.dataset_train_preset: at least MIN_STEPS_PER_EPOCH steps an epoch, never a batch below
    MIN_BATCH_SIZE, never above the level's; a run config's batch_size wins."""
    from matassets.levels import MIN_BATCH_SIZE, MIN_STEPS_PER_EPOCH, SPECIALIST, dataset_train_preset

    assert (MIN_STEPS_PER_EPOCH, MIN_BATCH_SIZE) == (8, 8)
    std = CGCNN["std"]  # batch 64
    scaled, why = dataset_train_preset(std, 100, {})  # a 125-crystal data set's training split
    assert scaled == replace(std, batch_size=12)
    assert why == {
        "batch_size": "batch size 12, not the level's 64: for 100 training crystals the batch is capped "
        "at 100 // 8 for at least 8 optimizer steps an epoch, never below 8 (--set batch_size=N wins)"
    }
    assert dataset_train_preset(std, 48, {})[0].batch_size == 8  # the floor: 6 steps an epoch
    assert dataset_train_preset(std, 400, {})[0].batch_size == 50
    assert dataset_train_preset(std, 512, {}) == (std, {})  # 8 steps of 64: the level's row
    assert dataset_train_preset(std, 5000, {}) == (std, {})
    assert dataset_train_preset(CGCNN["smoke"], 16, {})[0].batch_size == 8  # smoke's 16
    # a run config's batch size is kept, however small the data set
    overridden = replace(std, batch_size=32)
    assert dataset_train_preset(overridden, 48, {"batch_size": 32}) == (overridden, {})
    # an e3nn specialist's row (batch 16) keeps its type and its other fields
    specialist, _ = dataset_train_preset(SPECIALIST["std"], 80, {"lr": 1e-3})
    assert specialist == replace(SPECIALIST["std"], batch_size=10)
