"""SLnL-rFA JAX -> PyTorch: the mirror's constructor args and the NNX state -> state_dict key map.

The mirror (torch_models/slnl_rfa.py) names its modules after the NNX paths, so the map is per
leaf: conv kernels HWIO -> OIHW, dense kernels [in, out] -> [out, in], BatchNorm scale / mean /
var -> weight / running_mean / running_var (flax stores the biased running variance; torch would
update with the unbiased one, which only matters if training continues in torch).
"""
from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

_MODEL_KEYS = ("num_classes", "streams", "transform", "num_coords", "num_new_joints", "input_bn",
               "frequency_attention", "fa_ratio", "fa_hidden_act", "channels", "kernel_sizes",
               "num_slnl_blocks", "nonlocal_kinds", "nonlocal_ratio", "block_layout", "pool_every",
               "dropout", "person_pool", "bn_momentum")


def torch_args(config: ml_collections.ConfigDict) -> dict:
  """Plain-dict constructor arguments of the PyTorch mirror."""
  args = {k: config.model[k] for k in _MODEL_KEYS}
  args.update(channels=tuple(config.model.channels), kernel_sizes=tuple(config.model.kernel_sizes),
              nonlocal_kinds=tuple(config.model.nonlocal_kinds), num_frames=config.data.num_frames,
              num_joints=config.data.num_joints, in_channels=config.data.channels)
  return args


def torch_model(config: ml_collections.ConfigDict):
  """An untrained eval-mode PyTorch mirror for `config` (load `state_dict(...)` into it)."""
  from actionjax.export.torch_models.slnl_rfa import SLnLRFA  # torch imported only on export
  return SLnLRFA(torch_args(config)).eval()


def state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """The NNX model's parameters and BatchNorm statistics keyed as the mirror's state_dict."""
  del config  # the key map follows the module paths alone
  out: dict[str, np.ndarray] = {}
  for path, var in nnx.to_flat_state(nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))):
    *prefix, leaf = (str(p) for p in path)
    value = np.asarray(var[...], np.float32)
    if leaf == "kernel":
      value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
      leaf = "weight"
    elif leaf == "scale":
      leaf = "weight"
    elif leaf in ("mean", "var"):
      leaf = "running_" + leaf
      if leaf == "running_mean":
        out[".".join(prefix + ["num_batches_tracked"])] = np.array(0, np.int64)
    out[".".join(prefix + [leaf])] = np.ascontiguousarray(value)
  return out


