"""Multi-head (self / cross) attention over the second-to-last axis of channels-last tensors."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def attention_weights(q: jax.Array, k: jax.Array) -> jax.Array:
  """softmax(Q K^T / sqrt(d)) (Eq. (1), FG-STFormer; Vaswani et al.).

  q: (..., Lq, H, D), k: (..., Lk, H, D) -> (..., H, Lq, Lk). The softmax runs in float32 (bf16
  logits lose the small differences that decide the weights) and is cast back to q's dtype.
  """
  logits = jnp.einsum("...qhd,...khd->...hqk", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
  return jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(q.dtype)


class MultiHeadAttention(nnx.Module):
  """H heads whose maps aggregate the full value input, concatenated, then one output linear.

  Per head h: A_h = softmax(Q_h K_h^T / sqrt(d)) [+ G_h], out = Concat_h[A_h V] W_O, as in
  DSTA-Net's spatial attention. Aggregating the raw values and projecting the concatenation
  equals giving each head its own value projection of width C_v (W_V^h W_O^h folds into one
  block of W_O), so no head width C/H has to divide C (FG-STFormer uses 3 heads on 64 channels).
  `global_map=(Lq, Lk)` adds a learnable map G shared by all samples to every head's softmax
  output (DSTA-Net's attention0, initialised to 1/Lk). Self-attention passes the same tensor as
  query and key input; cross-attention (Eq. (4)) passes the other branch as key/value input.
  """

  def __init__(self, q_features: int, kv_features: int, out_features: int, *, num_heads: int,
               qk_features: int, global_map: tuple[int, int] | None = None, rngs: nnx.Rngs):
    self.num_heads, self.qk_features = num_heads, qk_features
    self.q = nnx.Linear(q_features, num_heads * qk_features, rngs=rngs)
    self.k = nnx.Linear(kv_features, num_heads * qk_features, rngs=rngs)
    self.out = nnx.Linear(num_heads * kv_features, out_features, rngs=rngs)
    self.global_map = None if global_map is None else nnx.Param(
        jnp.full((num_heads, *global_map), 1.0 / global_map[1], jnp.float32))

  def weights(self, xq: jax.Array, xk: jax.Array) -> jax.Array:
    """Attention maps (..., H, Lq, Lk) including the global map."""
    h, d = self.num_heads, self.qk_features
    q = self.q(xq).reshape(*xq.shape[:-1], h, d)
    k = self.k(xk).reshape(*xk.shape[:-1], h, d)
    a = attention_weights(q, k)
    if self.global_map is not None:
      a = a + self.global_map[...].astype(a.dtype)
    return a

  def __call__(self, xq: jax.Array, xk: jax.Array, values: jax.Array | None = None) -> jax.Array:
    """xq: (..., Lq, Cq); xk: (..., Lk, Ck); values (default xk): (..., Lk, Ck) -> (..., Lq, C_out)."""
    values = xk if values is None else values
    a = self.weights(xq, xk)
    z = jnp.einsum("...hqk,...kc->...qhc", a, values)
    return self.out(z.reshape(*z.shape[:-2], -1))
