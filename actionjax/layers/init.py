"""PyTorch's default initialisation for a model built from flax layers.

`nn.Linear` and `nn.Conv*` initialise with `kaiming_uniform_(a=sqrt(5))`, i.e. weights
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases from the same interval. A paper trained in PyTorch
without explicit initialisation got exactly this; flax's defaults (lecun_normal weights, zero
biases) give weights sqrt(3) times larger, which changes how fast SGD moves a layer that BatchNorm
follows. Kernels are recognised by name and layout: `kernel` with the input features on the
second-to-last axis (nnx.Linear's (in, out), nnx.Conv's and TemporalConv's (k..., in, out)), so
fan_in is the product of all but the last axis.
"""
from __future__ import annotations

import jax
import numpy as np
from flax import nnx


def torch_default_init(module: nnx.Module, key: jax.Array) -> None:
  """Redraws every `kernel` (and its sibling `bias`) under `module` in place, as PyTorch would."""
  layers = [m for _, m in nnx.iter_modules(module)
            if isinstance(getattr(m, "kernel", None), nnx.Param)]
  targets = []  # (variable, shape, bound)
  for layer in layers:
    shape = layer.kernel[...].shape
    bound = 1.0 / np.sqrt(float(np.prod(shape[:-1])))
    targets.append((layer.kernel, shape, bound))
    bias = getattr(layer, "bias", None)
    if isinstance(bias, nnx.Param):
      targets.append((bias, bias[...].shape, bound))
  # One draw for all of them: each random tensor is a threefry loop that XLA compiles on its own
  # (a draw per tensor took 7 of the 17 s of a small FG-STFormer's init compile).
  sizes = [int(np.prod(shape)) for _, shape, _ in targets]
  u = jax.random.uniform(key, (sum(sizes),), minval=-1.0, maxval=1.0)
  for (var, shape, bound), start, n in zip(targets, np.cumsum([0] + sizes), sizes):
    # set_value, not `[...] =`: an indexed write under jit/eval_shape costs milliseconds a call.
    var.set_value((u[start:start + n].reshape(shape) * bound).astype(var[...].dtype))


def apply(kind: str, module: nnx.Module, rngs: nnx.Rngs) -> None:
  """`model.init`: 'torch' redraws as PyTorch's defaults; 'flax' keeps the layers' own."""
  if kind == "torch":
    torch_default_init(module, rngs.params())
  elif kind != "flax":
    raise ValueError(f"model.init={kind!r}: use torch | flax")

