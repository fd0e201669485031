"""The one door to e3nn: import ``o3`` and ``nn`` from here, never from ``e3nn`` directly.

e3nn 0.4.4 (pinned by mace-torch) loads ``e3nn/o3/constants.pt`` with ``torch.load`` when
``e3nn.o3`` is imported. Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, and that
file pickles ``slice`` objects, so the import fails with ``UnpicklingError … GLOBAL slice``.
Allow-listing ``slice`` (a builtin that runs no code) lets the safe loader read it. We do not rely
on importing ``mace`` first: that sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the whole process,
which would make every later ``torch.load`` unsafe. (e3nn >= 0.5 no longer needs this.)
"""

from __future__ import annotations

import warnings

import torch

torch.serialization.add_safe_globals([slice])
# e3nn scripts its generated modules; TorchScript then warns once per module about annotations in
# torch's own code, which says nothing to a user (stack notes §5: "harmless")
warnings.filterwarnings(
    "ignore",
    message="The TorchScript type system doesn't support instance-level annotations",
    category=UserWarning,
)

from e3nn import nn, o3  # noqa: E402

__all__ = ["nn", "o3"]
