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
  for i, layer in enumerate(layers):
    kernel = layer.kernel[...]
    bound = 1.0 / np.sqrt(float(np.prod(kernel.shape[:-1])))
    kw, kb = jax.random.split(jax.random.fold_in(key, i))
    # set_value, not `[...] =`: an indexed write under jit/eval_shape costs milliseconds a call.
    layer.kernel.set_value(jax.random.uniform(kw, kernel.shape, kernel.dtype, -bound, bound))
    bias = getattr(layer, "bias", None)
    if isinstance(bias, nnx.Param):
      layer.bias.set_value(jax.random.uniform(kb, bias.shape, bias.dtype, -bound, bound))


def apply(kind: str, module: nnx.Module, rngs: nnx.Rngs) -> None:
  """`model.init`: 'torch' redraws as PyTorch's defaults; 'flax' keeps the layers' own."""
  if kind == "torch":
    torch_default_init(module, rngs.params())
  elif kind != "flax":
    raise ValueError(f"model.init={kind!r}: use torch | flax")

