"""A measured lower bound on the FD-MAE pre-training step: the transformer blocks' matrix products
and attention cores alone, each timed in isolation at its exact shape, summed with its count.

What the floor leaves out (so the real step can only be slower): LayerNorm, GELU, residual adds,
dropout-free elementwise work, the patch and decoder embeddings, the prediction head, SSFRM, the DCT
targets, the losses, AdamW and the EMA update. Each matrix product is the faster of JAX and PyTorch
at that shape; each attention core the fastest of JAX's looped and batched forms and PyTorch's fused
`scaled_dot_product_attention`. A step that reaches this floor would need every other op to be free.

Used by benchmarks/fdmae_step.py (`--floor`), which asks both of its workers for these timings in
the same run as the steps.
"""
from __future__ import annotations

import time

import numpy as np

from actionjax.layers import masking


def best_seconds(fn, repeats: int = 5) -> float:
  """Fastest of `repeats` timed calls of fn(), after one untimed call."""
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return min(times)


def parts(config, batch: int) -> dict:
  """{'gemm': {(m, k, n): count}, 'attention': {(b, h, n, d, with_grad): count}} of one step.

  Online path (gradients): each linear (m, k) @ (k, n) costs its forward, dX = dY W^T (m, n, k) and
  dW = X^T dY (k, m, n); each attention core its forward and backward. Target path: forwards only.
  """
  m, d = config.model, config.data
  seqs = batch * d.max_persons
  tokens_t = d.num_frames // 2 // m.t_patch  # one path's frames
  visible = tokens_t * (d.num_joints - masking.num_masked_joints(d.num_joints, m.mask_ratio))
  paths = 2 if m.dual_path else 1
  gemm, attn = {}, {}

  def add(table, key, n):
    table[key] = table.get(key, 0) + n

  for depth, dim, heads, tokens in ((m.depth, m.dim, m.num_heads, visible),
                                    (m.decoder_depth, m.decoder_dim, m.decoder_heads, tokens_t * d.num_joints)):
    rows, hidden = seqs * tokens, int(dim * m.mlp_ratio)
    for k, n in ((dim, 3 * dim), (dim, dim), (dim, hidden), (hidden, dim)):
      add(gemm, (rows, k, n), depth * paths)  # forward, both paths
      add(gemm, (rows, n, k), depth)          # dX, online path
      add(gemm, (k, rows, n), depth)          # dW, online path
    add(attn, (seqs, heads, tokens, dim // heads, True), depth)
    if paths == 2:
      add(attn, (seqs, heads, tokens, dim // heads, False), depth)
  return {"gemm": gemm, "attention": attn}


def jax_times(p: dict) -> dict:
  """Seconds of each part in JAX: GEMMs, and attention as min(looped, batched)."""
  import jax
  import jax.numpy as jnp

  from actionjax.layers.looped_attention import looped_attention
  from actionjax.models.fdmae_encoder import _attend

  out = {"gemm": {}, "attention": {}}
  mm = jax.jit(jnp.matmul)
  for (m, k, n) in p["gemm"]:
    a, b = jnp.ones((m, k), jnp.float32), jnp.ones((k, n), jnp.float32)
    out["gemm"][(m, k, n)] = best_seconds(lambda: mm(a, b).block_until_ready())
  looped = lambda qkv: looped_attention(qkv)
  batched = lambda qkv: _attend(*(jnp.moveaxis(qkv, -3, 0).swapaxes(-2, -3)))
  for (b, h, n, d, grad) in p["attention"]:
    qkv = jax.random.normal(jax.random.key(0), (b, n, 3, h, d), jnp.float32)
    best = np.inf
    for f in (looped, batched):
      fn = jax.jit(jax.grad(lambda x: f(x).sum()) if grad else f)
      best = min(best, best_seconds(lambda: jax.block_until_ready(fn(qkv))))
    out["attention"][(b, h, n, d, grad)] = best
  return out


def torch_times(p: dict) -> dict:
  """Seconds of each part in PyTorch: GEMMs, and fused scaled_dot_product_attention."""
  import torch
  import torch.nn.functional as F

  out = {"gemm": {}, "attention": {}}
  for (m, k, n) in p["gemm"]:
    a, b = torch.ones(m, k), torch.ones(k, n)
    out["gemm"][(m, k, n)] = best_seconds(lambda: a @ b)
  for (b, h, n, d, grad) in p["attention"]:
    q, k, v = (torch.randn(b, h, n, d, requires_grad=grad) for _ in range(3))

    def run():
      if grad:
        F.scaled_dot_product_attention(q, k, v).sum().backward()
      else:
        with torch.no_grad():
          F.scaled_dot_product_attention(q, k, v)
    out["attention"][(b, h, n, d, grad)] = best_seconds(run)
  return out


def encode(times: dict) -> dict:
  """JSON-safe form of a times dict (tuple keys -> 'a,b,c')."""
  return {kind: {",".join(map(str, key)): t for key, t in table.items()} for kind, table in times.items()}


def decode(times: dict) -> dict:
  conv = lambda s: tuple(x == "True" if x in ("True", "False") else int(x) for x in s.split(","))
  return {kind: {conv(key): t for key, t in table.items()} for kind, table in times.items()}


def flop_of(kind: str, key: tuple) -> float:
  """FLOPs of one part, counted as XLA counts them (2 per multiply-add)."""
  if kind == "gemm":
    return 2.0 * float(np.prod(key))
  b, h, n, d, grad = key
  return 4.0 * b * h * n * n * d * (3.0 if grad else 1.0)  # forward: 2 products; backward: 4 more


def floor(p: dict, measured: list[dict]) -> dict:
  """Sum count x fastest time over the frameworks' measurements, with its FLOPs."""
  rows = {"gemm": [], "attention": []}
  total, flop = 0.0, 0.0
  for kind in ("gemm", "attention"):
    for key, n in sorted(p[kind].items()):
      t, f = min(m[kind][key] for m in measured), flop_of(kind, key)
      rows[kind].append({"shape": ",".join(map(str, key)), "count": n, "s_each": t,
                         "gflop_per_s": f / t / 1e9})
      total += n * t
      flop += n * f
  return {"floor_s": total, "floor_gflop": flop / 1e9,
          "gemm_s": sum(r["count"] * r["s_each"] for r in rows["gemm"]),
          "attention_s": sum(r["count"] * r["s_each"] for r in rows["attention"]), "parts": rows}
