"""Scale-specific frequency reconstruction module (SSFRM, FD-MAE §II-C, Fig. 2).

Input: the unpatchified decoder features S' (B', T_tok, V, D) (one step per token of t_patch frames).
  scale-up      low:  ConvT(x s/2) + GELU, ConvT(x1) + GELU  -> (B', T_tok * s/2, V, W)
                high: ConvT(x s) + GELU                      -> (B', T_tok * s, V, W), s = t_patch
  mapping       grouped conv (k=3) + pointwise conv (+ GELU), one per scale
  reconstruct   grouped conv (k=3) + pointwise conv + GELU + ConvT (k=3, x1) to C channels
With MAMP's t_patch = 4 the high output is at the path's frame rate (T) and the low one at T / 2:
high frequencies at the finer, low frequencies at the coarser temporal scale.
All convolutions act along time only (kernel (k, 1) over (T, V)), shared over joints.
"""
from __future__ import annotations

import jax
from flax import nnx


def _gelu(x: jax.Array) -> jax.Array:
  return jax.nn.gelu(x, approximate=False)


class _Branch(nnx.Module):
  """Feature mapping + feature reconstruction for one scale."""

  def __init__(self, width: int, groups: int, out_channels: int, *, rngs: nnx.Rngs):
    conv = lambda cin, cout, k, g=1: nnx.Conv(cin, cout, (k, 1), padding="SAME", feature_group_count=g,
                                              rngs=rngs)
    self.map_group = conv(width, width, 3, groups)
    self.map_point = conv(width, width, 1)
    self.rec_group = conv(width, width, 3, groups)
    self.rec_point = conv(width, width, 1)
    self.rec_up = nnx.ConvTranspose(width, out_channels, (3, 1), padding="SAME", rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    # A GELU after each pointwise conv: two stacked linear convolutions would collapse into one.
    x = _gelu(self.map_point(self.map_group(x)))
    x = _gelu(self.rec_point(self.rec_group(x)))
    return self.rec_up(x)


class SSFRM(nnx.Module):
  """S' -> (S_high (B', s T_tok, V, C), S_low (B', s/2 T_tok, V, C)), s = t_patch (§II-C)."""

  def __init__(self, in_dim: int, width: int, groups: int, t_patch: int, out_channels: int, *,
               rngs: nnx.Rngs):
    if t_patch % 2:
      raise ValueError(f"SSFRM needs an even t_patch (high scale t_patch, low t_patch / 2); got {t_patch}")
    up = lambda cin, cout, k, s: nnx.ConvTranspose(cin, cout, (k, 1), strides=(s, 1),
                                                   padding="VALID" if k == s else "SAME", rngs=rngs)
    self.up_low1 = up(in_dim, width, t_patch // 2, t_patch // 2)
    self.up_low2 = up(width, width, 3, 1)
    self.up_high = up(in_dim, width, t_patch, t_patch)
    self.low = _Branch(width, groups, out_channels, rngs=rngs)
    self.high = _Branch(width, groups, out_channels, rngs=rngs)

  def __call__(self, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    low = _gelu(self.up_low2(_gelu(self.up_low1(s))))
    high = _gelu(self.up_high(s))
    return self.high(high), self.low(low)
