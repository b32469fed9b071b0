"""Embedded-Gaussian non-local modules over a (T, N) feature map, Eqs. (6)-(11) of SLnL-rFA.

`kind` picks the positions Omega that attend to each other: 'temporal' (each joint's T frames),
'spatial' (each frame's N joints) or 'spatiotemporal' (all T*N positions).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from actionjax.layers.attention import SowsAttention

KINDS = ("temporal", "spatial", "spatiotemporal")


class NonLocal(SowsAttention, nnx.Module):
  """w(y_i) = W_w sum_j softmax_j(phi(x_i)^T psi(x_j)) W_g x_j on channels-last `(B, T, N, P)`.

  Eqs. 7-11 are bias-free linear maps; Z_i = sum_j phi(x_i, x_j) makes the weights a softmax.
  W_w starts at zero so a new module leaves its block's output unchanged (§3.3).
  """

  def __init__(self, in_features: int, out_features: int, embed_features: int, *, kind: str,
               rngs: nnx.Rngs):
    if kind not in KINDS:
      raise ValueError(f"non-local kind {kind!r} not in {KINDS}")
    self.kind = kind
    self.phi = nnx.Linear(in_features, embed_features, use_bias=False, rngs=rngs)  # Eq. 9
    self.psi = nnx.Linear(in_features, embed_features, use_bias=False, rngs=rngs)  # Eq. 10
    self.g = nnx.Linear(in_features, out_features, use_bias=False, rngs=rngs)      # Eq. 7
    self.w = nnx.Linear(out_features, out_features, use_bias=False,                # Eq. 11
                        kernel_init=nnx.initializers.zeros, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, t, n, _ = x.shape
    q, k, v = self.phi(x), self.psi(x), self.g(x)
    if self.kind == "temporal":
      logits = jnp.einsum("btnl,bsnl->bnts", q, k)
      eq_out = "bnts,bsnq->btnq"
    elif self.kind == "spatial":
      logits = jnp.einsum("btnl,btml->btnm", q, k)
      eq_out = "btnm,btmq->btnq"
    else:
      q, k, v = (a.reshape(b, 1, t * n, a.shape[-1]) for a in (q, k, v))
      logits = jnp.einsum("bxil,bxjl->bxij", q, k)
      eq_out = "bxij,bxjq->bxiq"
    attn = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)  # Eq. 8 / Z_i
    self.sow_attention(attn[..., None, :, :])  # one head
    y = jnp.einsum(eq_out, attn, v).reshape(b, t, n, -1)
    return self.w(y)
