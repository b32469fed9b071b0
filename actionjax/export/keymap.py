"""The key map the video mirrors share: an NNX parameter path and value -> the PyTorch
state_dict key and layout (reference: JAX-to-PyTorch conversion pitfalls). BatchNorm lives under
`bn`; Dense kernels (in, out) become (out, in); conv kernels DHWIO / HWIO become OIDHW / OIHW
(grouped convs keep I = Cin / groups on both sides)."""
from __future__ import annotations

import numpy as np
from flax import nnx

BN_NAMES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def torch_entry(path: tuple, value: np.ndarray, *, layer_norm: bool = False) -> tuple[str, np.ndarray]:
  """(key, value) of one variable; `layer_norm`: a `scale` outside `bn` is a LayerNorm weight."""
  names = [str(p) for p in path]
  last = names[-1]
  if len(names) > 1 and names[-2] == "bn":
    return ".".join(names[:-1] + [BN_NAMES[last]]), value
  if last == "kernel":
    if value.ndim == 2:
      value = value.T
    elif value.ndim in (4, 5):
      value = value.transpose(value.ndim - 1, value.ndim - 2, *range(value.ndim - 2))
    return ".".join(names[:-1] + ["weight"]), value
  if last == "scale" and layer_norm:
    return ".".join(names[:-1] + ["weight"]), value
  return ".".join(names), value


def state_dict(model: nnx.Module, *, layer_norm: bool = False,
               bn_counter: bool = False) -> dict[str, np.ndarray]:
  """Every `nnx.Param` / `nnx.BatchStat` under the mirror's keys; `bn_counter` adds BatchNorm's
  `num_batches_tracked` (unused by torch when the momentum is set, but part of its state_dict)."""
  out = {}
  for path, var in nnx.to_flat_state(nnx.state(model, (nnx.Param, nnx.BatchStat))):
    key, value = torch_entry(path, np.asarray(var[...], dtype=np.float32), layer_norm=layer_norm)
    out[key] = np.ascontiguousarray(value)
    if bn_counter and key.endswith(".bn.running_var"):
      out[key.removesuffix("running_var") + "num_batches_tracked"] = np.array(0, np.int64)
  return out
