"""Scale-specific frequency reconstruction module (SSFRM, FD-MAE §II-C, Fig. 2).

Input: the unpatchified decoder features S' (B', T_tok, V, D) (one step per token of t_patch frames).
  scale-up      low:  ConvT(x s/2) + GELU, ConvT(x1) + GELU  -> (B', T_tok * s/2, V, W)
                high: ConvT(x s) + GELU                      -> (B', T_tok * s, V, W), s = t_patch
  mapping       grouped conv (k=3) + pointwise conv (+ GELU), one per scale
  reconstruct   grouped conv (k=3) + pointwise conv + GELU + ConvT (k=3, x1) to C channels
With MAMP's t_patch = 4 the high output is at the path's frame rate (T) and the low one at T / 2:
high frequencies at the finer, low frequencies at the coarser temporal scale.
All convolutions act along time only (kernel (k, 1) over (T, V)), shared over joints.

The strided transposed convolutions and the grouped convolutions are written as matmuls: on XLA:CPU
their convolution forms took 0.8 s and 1.2 s for one backward pass at batch 8 (vs ~0.05 s here).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from actionjax.models.fdmae_encoder import gelu


class TemporalUpsample(nnx.Module):
  """Transposed convolution with kernel = stride = s along time: y[s t + j] = x[t] W_j + b."""

  def __init__(self, in_features: int, out_features: int, scale: int, *, rngs: nnx.Rngs):
    init = nnx.initializers.lecun_normal(in_axis=1, out_axis=2)
    self.kernel = nnx.Param(init(rngs.params(), (scale, in_features, out_features)))
    self.bias = nnx.Param(jnp.zeros((out_features,)))

  def __call__(self, x: jax.Array) -> jax.Array:
    b, t, v, _ = x.shape
    k = self.kernel[...].astype(x.dtype)
    y = jnp.einsum("btvc,scd->btsvd", x, k).reshape(b, t * k.shape[0], v, -1)
    return y + self.bias[...].astype(x.dtype)


class TemporalGroupConv(nnx.Module):
  """Grouped convolution along time, 'SAME' padding, stride 1: kernel (k, groups, C/g, D/g)."""

  def __init__(self, in_features: int, out_features: int, kernel_size: int, groups: int, *, rngs: nnx.Rngs):
    if in_features % groups or out_features % groups:
      raise ValueError(f"channels {in_features}->{out_features} not divisible by groups={groups}")
    init = nnx.initializers.lecun_normal(in_axis=(0, 2), out_axis=3)
    self.kernel = nnx.Param(init(rngs.params(), (kernel_size, groups, in_features // groups,
                                                 out_features // groups)))
    self.bias = nnx.Param(jnp.zeros((out_features,)))

  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel[...].astype(x.dtype)
    n, g, cin, cout = k.shape
    # Block-diagonal dense taps (n, C, D): g x more multiply-adds on a small layer, but plain
    # channels-last matmuls, where a per-group einsum first copies the input group-major.
    dense = jnp.einsum("kgcd,gh->kgchd", k, jnp.eye(g, dtype=k.dtype)).reshape(n, g * cin, g * cout)
    t = x.shape[1]
    xp = jnp.pad(x, ((0, 0), (n // 2, n - 1 - n // 2), (0, 0), (0, 0)))
    y = sum(xp[:, j:j + t] @ dense[j] for j in range(n))
    return y + self.bias[...].astype(x.dtype)


class _Branch(nnx.Module):
  """Feature mapping + feature reconstruction for one scale."""

  def __init__(self, width: int, groups: int, out_channels: int, *, rngs: nnx.Rngs):
    self.map_group = TemporalGroupConv(width, width, 3, groups, rngs=rngs)
    self.map_point = nnx.Linear(width, width, rngs=rngs)
    self.rec_group = TemporalGroupConv(width, width, 3, groups, rngs=rngs)
    self.rec_point = nnx.Linear(width, width, rngs=rngs)
    self.rec_up = nnx.ConvTranspose(width, out_channels, (3, 1), padding="SAME", rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    # A GELU after each pointwise conv: two stacked linear convolutions would collapse into one.
    x = gelu(self.map_point(self.map_group(x)))
    x = gelu(self.rec_point(self.rec_group(x)))
    return self.rec_up(x)


class SSFRM(nnx.Module):
  """S' -> (S_high (B', s T_tok, V, C), S_low (B', s/2 T_tok, V, C)), s = t_patch (§II-C)."""

  def __init__(self, in_dim: int, width: int, groups: int, t_patch: int, out_channels: int, *,
               rngs: nnx.Rngs):
    if t_patch % 2:
      raise ValueError(f"SSFRM needs an even t_patch (high scale t_patch, low t_patch / 2); got {t_patch}")
    self.up_low1 = TemporalUpsample(in_dim, width, t_patch // 2, rngs=rngs)
    self.up_low2 = nnx.ConvTranspose(width, width, (3, 1), padding="SAME", rngs=rngs)
    self.up_high = TemporalUpsample(in_dim, width, t_patch, rngs=rngs)
    self.low = _Branch(width, groups, out_channels, rngs=rngs)
    self.high = _Branch(width, groups, out_channels, rngs=rngs)

  def __call__(self, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    low = gelu(self.up_low2(gelu(self.up_low1(s))))
    high = gelu(self.up_high(s))
    return self.high(high), self.low(low)
