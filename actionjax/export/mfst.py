"""MFST export: NNX state -> state_dict of the PyTorch mirror (actionjax/export/torch_models/mfst.py),
whose module names follow the NNX paths."""
from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from actionjax.export import keymap
from actionjax.export.torch_models import mfst as torch_mfst
from actionjax.models.mfst import stream_modalities


def torch_kwargs(config: ml_collections.ConfigDict) -> dict:
  """Plain constructor arguments of the mirror from a run config."""
  kw = {k: v for k, v in config.model.to_dict().items() if k != "name"}
  kw["modalities"] = stream_modalities(config)
  return kw


def torch_model(config: ml_collections.ConfigDict):
  """An eval-mode `torch.nn.Module` with the architecture of `config` (random weights)."""
  return torch_mfst.MFST(**torch_kwargs(config)).eval()


def state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Maps every `nnx.Param` / `nnx.BatchStat` of the model to the mirror's state_dict keys."""
  del config  # the key map is structural
  return keymap.state_dict(model, layer_norm=True)
