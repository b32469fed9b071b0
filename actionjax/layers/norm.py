"""BatchNorm as PyTorch computes it: the batch variance from the centred values.

flax's default (`use_fast_variance=True`) takes E[x^2] - E[x]^2, which in float32 loses the
variance of a channel whose mean is large next to its spread. On a small FG-STFormer with NW-UCLA
format batches that put the JAX SGD step 5x further from a float64 step than PyTorch's own float32
step (`benchmarks/fgstformer_dynamics.py`); the centred form costs one more pass over the
activations.
"""
from __future__ import annotations

from flax import nnx


def batch_norm(features: int, *, momentum: float = 0.9, epsilon: float = 1e-5,
               rngs: nnx.Rngs) -> nnx.BatchNorm:
  """nnx.BatchNorm over the last axis with the centred (two-pass) batch variance."""
  return nnx.BatchNorm(features, momentum=momentum, epsilon=epsilon, use_fast_variance=False, rngs=rngs)
