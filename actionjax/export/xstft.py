"""X-STFT export: NNX state -> state_dict of the PyTorch mirror
(actionjax/export/torch_models/xstft.py), whose module names follow the NNX paths. The fixed STFT
kernels are constants on both sides and are not exported."""
from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from actionjax.export import keymap
from actionjax.export.torch_models import xstft as torch_xstft
from actionjax.models.xstft import settings


def torch_kwargs(config: ml_collections.ConfigDict) -> dict:
  """Plain constructor arguments of the mirror from a run config."""
  return settings(config)


def torch_model(config: ml_collections.ConfigDict):
  """An eval-mode `torch.nn.Module` with the architecture of `config` (random weights)."""
  return torch_xstft.XSTFT(**torch_kwargs(config)).eval()


def state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Maps every `nnx.Param` / `nnx.BatchStat` of the model to the mirror's state_dict keys."""
  del config  # the key map is structural
  return keymap.state_dict(model, bn_counter=True)
