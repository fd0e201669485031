"""The weight average warms its decay up, and a resumed run continues its warm-up where it was."""

import dataclasses

import pytest
import torch
from test_resume import spec

from matassets.paths import Layout
from matassets.training.checkpoint import load_checkpoint
from matassets.training.graph_model import train_graph_model
from matassets.training.trainer import EMA


def test_decay_is_warmed_up_then_capped():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.999)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # d_0 = min(0.999, 1/10) = 0.1: the average is mostly the new weights
    assert ema.shadow.weight.item() == pytest.approx(0.9)
    ema.updates = 10_000  # late in a run the preset's decay applies
    with torch.no_grad():
        model.weight.fill_(2.0)
    before = ema.shadow.weight.item()
    ema.update(model)
    assert ema.shadow.weight.item() == pytest.approx(0.999 * before + 0.001 * 2.0)


@pytest.mark.slow
def test_checkpoint_keeps_the_update_count(smoke_copy):
    base = spec("ema_resume")
    preset = dataclasses.replace(base.preset, ema_decay=0.99)
    run = dataclasses.replace(base, preset=preset)
    layout = Layout(smoke_copy)
    train_graph_model(layout, run, log=lambda m: None, stop=lambda epoch: epoch == 1)
    saved = load_checkpoint(layout.model_dir("ema_resume", "smoke").parent / ".work/smoke/checkpoint.pt")
    # one average update per optimiser step, as many as the schedule took
    assert saved["ema_updates"] == saved["scheduler"]["last_epoch"] > 0
