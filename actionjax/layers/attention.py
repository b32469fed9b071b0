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


class SowsAttention:
  """Mixin of the attention layers: `layer.capture_attention = True` makes the layer sow its softmax
  maps (..., H, Lq, Lk) as the nnx.Intermediate `attention_map` (actionjax.viz.capture_attention
  sets and clears it). The default False is a class attribute, so training graphs neither hold
  the flag nor compute anything more."""
  capture_attention = False

  def sow_attention(self, weights: jax.Array) -> None:
    if self.capture_attention:
      self.sow(nnx.Intermediate, "attention_map", weights)


class MultiHeadAttention(SowsAttention, nnx.Module):
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
    """Attention maps (..., H, Lq, Lk) including the global map (the sown map is the softmax alone:
    G is a parameter, the same for every sample)."""
    h, d = self.num_heads, self.qk_features
    q = self.q(xq).reshape(*xq.shape[:-1], h, d)
    k = self.k(xk).reshape(*xk.shape[:-1], h, d)
    a = attention_weights(q, k)
    self.sow_attention(a)
    if self.global_map is not None:
      a = a + self.global_map[...].astype(a.dtype)
    return a

  def __call__(self, xq: jax.Array, xk: jax.Array, values: jax.Array | None = None) -> jax.Array:
    """xq: (..., Lq, Cq); xk: (..., Lk, Ck); values (default xk): (..., Lk, Ck) -> (..., Lq, C_out)."""
    values = xk if values is None else values
    a = self.weights(xq, xk)
    z = jnp.einsum("...hqk,...kc->...qhc", a, values)
    return self.out(z.reshape(*z.shape[:-2], -1))


# ----------------------------------------------------------------- k-NN attention (KVT, MFST)

def resolve_topk(topk: int | float | None, n: int) -> int:
  """k of k-NN attention over n keys: a float in (0, 1] is a fraction of the keys,
  max(1, int(topk * n)) (MotionRGBD's int(0.7 n)); an int, or a whole float > 1 (config
  overrides of a float key parse `3` as 3.0), is absolute, capped at n (KVT's k = 100);
  0 / None keeps every key (dense attention)."""
  if not topk:
    return n
  if isinstance(topk, float) and topk <= 1.0:
    if topk < 0.0:
      raise ValueError(f"k-NN attention needs k > 0, got {topk}")
    return max(1, int(topk * n))
  if topk != int(topk) or topk < 1:
    raise ValueError(f"an absolute k must be a whole number >= 1, got {topk}")
  return min(int(topk), n)


def knn_mask(logits: jax.Array, topk: int | float | None) -> jax.Array:
  """Boolean mask of the top-k scores along the last axis (per head and query row).

  Ties: every score equal to the k-th largest is kept, so a row keeps k entries plus any exact
  ties at the threshold (identical keys, e.g. constant padding). KVT's scatter of `topk` indices
  keeps exactly k with a backend-dependent winner; the threshold rule is symmetric in tied keys
  and reproducible in the PyTorch mirror. With continuous inputs ties have probability zero.
  """
  k = resolve_topk(topk, logits.shape[-1])
  if k >= logits.shape[-1]:
    return jnp.ones(logits.shape, bool)
  kth = jax.lax.top_k(logits, k)[0][..., -1:]
  return logits >= kth


def knn_attention_weights(q: jax.Array, k: jax.Array, topk: int | float | None) -> jax.Array:
  """k-NN attention (KVT, Wang et al. ECCV 2022; MFST Eq. (8)): per head and query keep the
  top-k scores of Q K^T / sqrt(d), set the rest to -inf, softmax over the kept ones.

  q: (..., Lq, H, D), k: (..., Lk, H, D) -> (..., H, Lq, Lk); the scores and softmax run in
  float32 and are cast back to q's dtype. k = all keys gives `attention_weights` exactly.
  """
  logits = jnp.einsum("...qhd,...khd->...hqk", q, k).astype(jnp.float32) / jnp.sqrt(
      jnp.float32(q.shape[-1]))
  if resolve_topk(topk, logits.shape[-1]) < logits.shape[-1]:
    logits = jnp.where(knn_mask(logits, topk), logits, -jnp.inf)
  return jax.nn.softmax(logits, axis=-1).astype(q.dtype)


class KNNSelfAttention(SowsAttention, nnx.Module):
  """ViT-style multi-head self-attention (one qkv Linear, per-head width dim / heads, output
  projection) with KVT's top-k masking; `topk=0` is dense attention. qkv columns are ordered
  (3, heads, head_dim) as timm's `qkv.reshape(B, N, 3, H, D)`."""

  def __init__(self, dim: int, *, num_heads: int, topk: int | float | None, qkv_bias: bool = True,
               rngs: nnx.Rngs):
    if dim % num_heads:
      raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
    self.num_heads, self.topk = num_heads, topk
    self.qkv = nnx.Linear(dim, 3 * dim, use_bias=qkv_bias, rngs=rngs)
    self.proj = nnx.Linear(dim, dim, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (..., L, dim) -> (..., L, dim)."""
    h = self.num_heads
    qkv = self.qkv(x).reshape(*x.shape[:-1], 3, h, x.shape[-1] // h)
    q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
    a = knn_attention_weights(q, k, self.topk)
    self.sow_attention(a)
    z = jnp.einsum("...hqk,...khd->...qhd", a, v)
    return self.proj(z.reshape(*x.shape))
