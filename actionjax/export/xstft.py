"""X-STFT export: NNX state -> state_dict of the PyTorch mirror
(actionjax/export/torch_models/xstft.py), whose module names follow the NNX paths. The fixed STFT
kernels are constants on both sides and are not exported."""
from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from actionjax.export.torch_models import xstft as torch_xstft
from actionjax.models.xstft import settings

_BN_NAMES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def torch_kwargs(config: ml_collections.ConfigDict) -> dict:
  """Plain constructor arguments of the mirror from a run config."""
  return settings(config)


def torch_model(config: ml_collections.ConfigDict):
  """An eval-mode `torch.nn.Module` with the architecture of `config` (random weights)."""
  return torch_xstft.XSTFT(**torch_kwargs(config)).eval()


def _convert(path: tuple, value: np.ndarray) -> tuple[str, np.ndarray]:
  names = [str(p) for p in path]
  last = names[-1]
  if len(names) > 1 and names[-2] == "bn":
    return ".".join(names[:-1] + [_BN_NAMES[last]]), value
  if last == "kernel":
    if value.ndim == 2:      # Dense (in, out) -> (out, in)
      value = value.T
    elif value.ndim == 5:    # conv DHWIO -> OIDHW (grouped: I = Cin / groups on both sides)
      value = value.transpose(4, 3, 0, 1, 2)
    return ".".join(names[:-1] + ["weight"]), value
  return ".".join(names), value


def state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Maps every `nnx.Param` / `nnx.BatchStat` of the model to the mirror's state_dict keys."""
  del config  # the key map is structural
  out = {}
  for path, var in nnx.to_flat_state(nnx.state(model, (nnx.Param, nnx.BatchStat))):
    key, value = _convert(path, np.asarray(var[...], dtype=np.float32))
    out[key] = np.ascontiguousarray(value)
    if key.endswith(".bn.running_var"):  # torch BatchNorm3d's counter (unused with a set momentum)
      out[key.removesuffix("running_var") + "num_batches_tracked"] = np.array(0, np.int64)
  return out
