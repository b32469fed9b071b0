"""FG-STFormer export: NNX state -> state_dict of the PyTorch mirror
(actionjax/export/torch_models/fgstformer.py), whose module names follow the NNX paths."""
from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from actionjax.export.torch_models import fgstformer as torch_fg
from actionjax.models.fgstformer import part_partition

_BN_NAMES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def torch_kwargs(config: ml_collections.ConfigDict) -> dict:
  """Plain constructor arguments of the mirror from a run config."""
  kw = {k: (tuple(v) if isinstance(v, (list, tuple)) else v)
        for k, v in config.model.to_dict().items() if k not in ("name", "parts", "init")}
  kw.update(num_joints=config.data.num_joints, in_channels=config.data.channels,
            parts=part_partition(config))
  return kw


def torch_model(config: ml_collections.ConfigDict):
  """An eval-mode `torch.nn.Module` with the architecture of `config` (random weights)."""
  return torch_fg.FGSTFormer(**torch_kwargs(config)).eval()


def _convert(path: tuple, value: np.ndarray) -> tuple[str, np.ndarray]:
  names = [str(p) for p in path]
  last = names[-1]
  if len(names) > 1 and names[-2] == "bn":
    return ".".join(names[:-1] + [_BN_NAMES[last]]), value
  if last == "kernel":
    if value.ndim == 2:      # Dense (in, out) -> (out, in)
      value = value.T
    elif value.ndim == 4:    # conv HWIO -> OIHW
      value = value.transpose(3, 2, 0, 1)
    return ".".join(names[:-1] + ["weight"]), value
  return ".".join(names), value  # bias, global_map, w_p keep their names and layouts


def state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Maps every `nnx.Param` / `nnx.BatchStat` of the model to the mirror's state_dict keys."""
  del config  # the key map is structural; kept for the common exporter signature
  flat = nnx.to_flat_state(nnx.state(model, (nnx.Param, nnx.BatchStat)))
  out = {}
  for path, var in flat:
    key, value = _convert(path, np.asarray(var[...], dtype=np.float32))
    out[key] = np.ascontiguousarray(value)
  return out


