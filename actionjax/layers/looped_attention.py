"""softmax(q k^T / sqrt(d)) v computed one (sequence, head) at a time, with a recomputing backward.

For XLA:CPU. The batched form materialises every (n, n) score matrix of the batch at once (16 x 8 x
750 x 750 floats = 288 MB for FD-MAE's decoder). Autodiff through a lax.map over sequences also
stacks each iteration's probabilities for the backward. Here the forward loops over sequences and,
within each, over heads, and keeps only the output and the row log-sum-exp. The backward loops again,
recomputes p = exp(q k^T / sqrt(d) - lse) and forms the gradients from it, as FlashAttention's
backward does (Dao et al. 2022, Alg. 2, without the tiling). Each iteration's 750 x 750 matrix
stays in cache. One decoder attention of FD-MAE (16 x 8 x 750 x 32), forward + backward, measured
on the 2-core CPU: 0.20 s, against 0.38 s for a lax.map over sequences with autodiff and 0.58 s
for the batched form.

Accelerators, and batches sharded over several devices, should use the batched form: a loop over
a sharded axis makes every device gather the whole batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def _scores(q: jax.Array, k: jax.Array) -> jax.Array:
  return jnp.matmul(q * q.shape[-1] ** -0.5, jnp.swapaxes(k, -1, -2),
                    preferred_element_type=jnp.float32)


def _forward_one(q: jax.Array, k: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
  """One (n, d) problem -> (out (n, d), lse (n, 1) float32)."""
  s = _scores(q, k)
  m = s.max(-1, keepdims=True)
  e = jnp.exp(s - m)
  total = e.sum(-1, keepdims=True)
  out = (jnp.matmul(e.astype(v.dtype), v, preferred_element_type=jnp.float32) / total).astype(q.dtype)
  return out, m + jnp.log(total)


def _backward_one(q, k, v, out, lse, dout):
  """Gradients of one (n, d) problem: dS = P o (dP - rowsum(dO o O)) (FlashAttention, App. B.2)."""
  p = jnp.exp(_scores(q, k) - lse)
  f32 = dict(preferred_element_type=jnp.float32)
  dv = jnp.matmul(jnp.swapaxes(p, -1, -2).astype(dout.dtype), dout, **f32)
  dp = jnp.matmul(dout, jnp.swapaxes(v, -1, -2), **f32)
  delta = (dout.astype(jnp.float32) * out.astype(jnp.float32)).sum(-1, keepdims=True)
  ds = (p * (dp - delta) * q.shape[-1] ** -0.5).astype(q.dtype)
  dq = jnp.matmul(ds, k, **f32)
  dk = jnp.matmul(jnp.swapaxes(ds, -1, -2), q, **f32)
  return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)


def _forward_sequence(qkv: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(n, 3, h, d) -> (out (n, h, d), lse (h, n, 1)), one head at a time. The (n, 3, h, d) layout is
  the qkv projection's own, so no batch-sized transposes are needed outside the loop."""
  heads = qkv.transpose(2, 1, 0, 3)  # (h, 3, n, d): a per-sequence copy that stays in cache
  out, lse = jax.lax.map(lambda z: _forward_one(z[0], z[1], z[2]), heads)
  return out.transpose(1, 0, 2), lse


def _backward_sequence(qkv, out, lse, dout):
  heads = qkv.transpose(2, 1, 0, 3)
  grads = jax.lax.map(lambda z: _backward_one(z[0][0], z[0][1], z[0][2], z[1], z[2], z[3]),
                      (heads, out.transpose(1, 0, 2), lse, dout.transpose(1, 0, 2)))
  return jnp.stack(grads, axis=1).transpose(2, 1, 0, 3)  # (h, 3, n, d) -> (n, 3, h, d)


@jax.custom_vjp
def looped_attention(qkv: jax.Array) -> jax.Array:
  """qkv (..., n, 3, h, d) -> softmax(q k^T / sqrt(d)) v per head, (..., n, h, d); softmax in float32."""
  return _fwd(qkv)[0]


def _fwd(qkv):
  flat = qkv.reshape((-1,) + qkv.shape[-4:])
  out, lse = jax.lax.map(_forward_sequence, flat)
  return out.reshape(qkv.shape[:-3] + qkv.shape[-2:]), (flat, out, lse)


def _bwd(res, dout):
  flat, out, lse = res
  dqkv = jax.lax.map(lambda z: _backward_sequence(*z), (flat, out, lse, dout.reshape(out.shape)))
  return (dqkv.reshape(dout.shape[:-3] + flat.shape[-4:]),)


looped_attention.defvjp(_fwd, _bwd)
