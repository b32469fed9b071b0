"""The MAMP transformer encoder (Mao et al. 2023) that FD-MAE builds on (FD-MAE §II-B), with param
paths and layouts chosen so that weights move to and from MAMP's PyTorch model by a fixed key map
(see /work/shared/reference/mamp_interop.md and actionjax/export/fdmae.py):

  joints_embed.proj  strided conv, one token per t_patch frames x 1 joint
  pos_embed (1, 1, V, D), temp_embed (1, T_tok, 1, D)   learned joint / temporal embeddings
  blocks.i           pre-norm: x + attn(norm1 x); x + mlp(norm2 x); LayerNorm eps 1e-5, exact GELU
  norm               final LayerNorm
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from actionjax.layers.attention import SowsAttention
from actionjax.layers.looped_attention import looped_attention

LN_EPS = 1e-5  # torch's default, as in MAMP (flax's own default is 1e-6)
ENCODER_KEYS = ("joints_embed", "pos_embed", "temp_embed", "blocks", "norm")

_xavier = nnx.initializers.xavier_uniform()
_embed_init = nnx.initializers.truncated_normal(0.02)


def drop_path(x: jax.Array, rate: float, train: bool, rngs: nnx.Rngs | None) -> jax.Array:
  """Stochastic depth (Huang et al. 2016): drops a residual branch per sample, from rngs.dropout()."""
  if not train or rate <= 0.0 or rngs is None:
    return x
  keep = jax.random.bernoulli(rngs.dropout(), 1.0 - rate, (x.shape[0],) + (1,) * (x.ndim - 1))
  return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


class PatchEmbed(nnx.Module):
  """`proj`: Conv with kernel = stride = (t_patch, 1) over (T, V): one token per t_patch frames x 1 joint."""

  def __init__(self, channels: int, dim: int, t_patch: int, *, rngs: nnx.Rngs):
    self.proj = nnx.Conv(channels, dim, kernel_size=(t_patch, 1), strides=(t_patch, 1),
                         padding="VALID", rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.proj(x)


def _attend(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
  """softmax(q k^T / sqrt(hd)) v over the last two axes; q, k, v (..., n, hd).

  The normalisation is applied after the value product (n hd instead of n n divisions) and the max
  shift carries no gradient (softmax is shift invariant): on XLA:CPU this ran the attention backward
  ~1.5x faster than einsum + jax.nn.softmax."""
  logits = ((q * q.shape[-1] ** -0.5) @ jnp.swapaxes(k, -1, -2)).astype(jnp.float32)
  e = jnp.exp(logits - jax.lax.stop_gradient(logits.max(-1, keepdims=True)))
  return (e.astype(q.dtype) @ v) / e.sum(-1, keepdims=True).astype(q.dtype)


class Attention(SowsAttention, nnx.Module):
  """Multi-head self-attention with a fused qkv projection split as (3, heads, head_dim), MAMP's order.

  `looped`: None = on a single CPU device, loop over (sequence, head) pairs with a recomputing
  backward (actionjax/layers/looped_attention.py: each 750 x 750 score matrix stays in cache; forward
  + backward 2.9x faster than the batched form for FD-MAE's decoder on XLA:CPU). Accelerators and multi-device
  meshes keep the batched form: a loop over a sharded batch axis would gather the batch on every
  device. Same numbers either way (tests/test_fdmae_layers.py)."""

  def __init__(self, dim: int, num_heads: int, looped: bool | None = None, *, rngs: nnx.Rngs):
    self.num_heads, self.looped = num_heads, looped
    self.qkv = nnx.Linear(dim, 3 * dim, kernel_init=_xavier, rngs=rngs)
    self.proj = nnx.Linear(dim, dim, kernel_init=_xavier, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, n, d = x.shape
    h = self.num_heads
    qkv = self.qkv(x).reshape(b, n, 3, h, d // h)
    looped = self.looped
    if looped is None:
      looped = jax.default_backend() == "cpu" and jax.device_count() == 1
    if self.capture_attention:  # the fused forms below never hold the probabilities
      q, k = qkv[:, :, 0], qkv[:, :, 1]
      self.sow_attention(jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q * (d // h) ** -0.5, k)
                                        .astype(jnp.float32), axis=-1))
    if looped:
      out = looped_attention(qkv)  # (b, n, h, hd)
    else:
      q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # 3 x (b, h, n, hd)
      out = _attend(q, k, v).transpose(0, 2, 1, 3)
    return self.proj(out.reshape(b, n, d))


def gelu(x: jax.Array) -> jax.Array:
  """Exact GELU, x Phi(x), in torch.nn.GELU's erf form. XLA:CPU fuses this into one pass, where
  jax.nn.gelu(approximate=False) (erfc form) took three: the decoder MLP's forward ran 3x faster."""
  return x * 0.5 * (1.0 + jax.lax.erf(x * 2 ** -0.5))


class Mlp(nnx.Module):

  def __init__(self, dim: int, hidden: int, *, rngs: nnx.Rngs):
    self.fc1 = nnx.Linear(dim, hidden, kernel_init=_xavier, rngs=rngs)
    self.fc2 = nnx.Linear(hidden, dim, kernel_init=_xavier, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(gelu(self.fc1(x)))


class Block(nnx.Module):
  """Pre-norm transformer block (ViT): x + DropPath(attn(LN x)); x + DropPath(mlp(LN x))."""

  def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float = 0.0,
               looped: bool | None = None, *, rngs: nnx.Rngs):
    self.drop_path = drop_path
    self.norm1 = nnx.LayerNorm(dim, epsilon=LN_EPS, rngs=rngs)
    self.attn = Attention(dim, num_heads, looped, rngs=rngs)
    self.norm2 = nnx.LayerNorm(dim, epsilon=LN_EPS, rngs=rngs)
    self.mlp = Mlp(dim, int(dim * mlp_ratio), rngs=rngs)

  def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> jax.Array:
    x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, train, rngs)
    return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, train, rngs)


def model_dims(config: ml_collections.ConfigDict) -> dict:
  """Encoder sizes from config.model (MAMP's defaults: dim 256, depth 8, 8 heads, MLP 4x, t_patch 4)."""
  m = config.model
  return dict(dim=m.get("dim", 256), depth=m.get("depth", 8), num_heads=m.get("num_heads", 8),
              mlp_ratio=m.get("mlp_ratio", 4.0), t_patch=m.get("t_patch", 4))


def looped_option(config: ml_collections.ConfigDict) -> bool | None:
  """config.model.attention (auto | looped | batched) -> Attention's `looped` (None = auto)."""
  choice = config.model.get("attention", "auto")
  if choice not in ("auto", "looped", "batched"):
    raise ValueError(f"model.attention={choice!r} is not one of auto, looped, batched")
  return None if choice == "auto" else choice == "looped"


class EncoderMixin:
  """Builds and runs the MAMP encoder as attributes of the model itself, so the pretrain and the
  classifier models share identical param paths (`blocks.3.attn.qkv.kernel`, ...)."""

  def _init_encoder(self, config: ml_collections.ConfigDict, num_frames: int, drop_path_rate: float,
                    rngs: nnx.Rngs) -> None:
    dims = model_dims(config)
    d, v, c, tp = dims["dim"], config.data.num_joints, config.data.channels, dims["t_patch"]
    if num_frames % tp:
      raise ValueError(f"{num_frames} frames per encoder input are not a multiple of t_patch={tp}")
    self.dim, self.depth, self.t_patch = d, dims["depth"], tp
    self.num_tokens_t, self.num_joints = num_frames // tp, v
    self.joints_embed = PatchEmbed(c, d, tp, rngs=rngs)
    self.pos_embed = nnx.Param(_embed_init(rngs.params(), (1, 1, v, d)))
    self.temp_embed = nnx.Param(_embed_init(rngs.params(), (1, self.num_tokens_t, 1, d)))
    # Linearly increasing drop-path rates over depth (stochastic depth's usual schedule).
    rates = [drop_path_rate * i / max(self.depth - 1, 1) for i in range(self.depth)]
    looped = looped_option(config)
    self.blocks = nnx.List([Block(d, dims["num_heads"], dims["mlp_ratio"], r, looped, rngs=rngs)
                            for r in rates])
    self.norm = nnx.LayerNorm(d, epsilon=LN_EPS, rngs=rngs)

  def embed(self, x: jax.Array) -> jax.Array:
    """(B', T, V, C) -> tokens (B', T_tok, V, D) with joint and temporal embeddings added."""
    tok = self.joints_embed(x)
    return tok + self.pos_embed[...].astype(tok.dtype) + self.temp_embed[...].astype(tok.dtype)

  def encode(self, x: jax.Array, keep_idx: jax.Array | None = None, *, train: bool = False,
             rngs: nnx.Rngs | None = None) -> jax.Array:
    """(B', T, V, C) -> (B', L, D): all T_tok * V tokens, or only those in `keep_idx` (B', L)."""
    tok = self.embed(x)
    tok = tok.reshape(tok.shape[0], -1, tok.shape[-1])
    if keep_idx is not None:
      tok = jnp.take_along_axis(tok, keep_idx[..., None], axis=1)
    for block in self.blocks:
      tok = block(tok, train=train, rngs=rngs)
    return self.norm(tok)
