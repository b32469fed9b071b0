"""MFST: Multi-stage Factorized Spatio-Temporal network (Ma, Zhou, Wang, Wang; §III).

    Z = WMS-Trans(MSC-Trans(CDC-Stem(V)))   per stage (Eq. 1), stages chained with residuals.

- CDC-Stem (§III-C): I3D's first five layers (conv 3x7x7 /(1,2,2), max-pool 1x3x3 /(1,2,2), conv
  1x1x1, conv 3x3x3, max-pool 1x3x3 /(1,2,2)); the two kt = 3 convolutions are 3D-CDC (Eqs. 3-6,
  actionjax/layers/cdc.py): CDC-ST for RGB, CDC-T for depth, theta 0.6 (Table IV). The 1x1x1 conv
  stays vanilla (the 3DCDC reference code applies no difference term when kt = 1).
- MSC-Trans (§III-D1): I3D Inception modules with 1xkxk (spatial-only) convolutions, a spatial
  max-pool (Eq. 7), then a k-NN transformer over the H x W tokens of every frame (Eq. 8, KVT).
- WMS-Trans (§III-D2): one transformer applied, with the same weights, to the sequence at temporal
  lengths t, t/2, t/4 (sinusoidal position encodings, Eqs. 9-10); the scales are brought back to
  length t and fused.
- A residual connection per stage (Table V), an MLP head on the pooled features.

Every choice the paper leaves open is a `config.model` key (configs/mfst.py comments each one);
the defaults follow ../shared/reference/video_models.md, whose configuration lands on Table III.
With `data.modalities = ('rgb', 'depth')` the model holds two streams (RGB: CDC-ST; depth: CDC-T)
and fuses their logits with `model.fusion_weights` (late fusion, §IV); each stream's logits are
also returned as `aux_logits` so both are trained by their own loss.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from actionjax.layers.attention import KNNSelfAttention
from actionjax.layers.cdc import cdc_conv3d
from actionjax.layers.norm import batch_norm
from actionjax.layers.position import sinusoidal_table
from actionjax.models import registry

_STEM_VARIANT = {"cdc_st": "st", "cdc_t": "t", "vanilla": None}


def max_pool3d(x: jax.Array, kernel: Sequence[int], strides: Sequence[int]) -> jax.Array:
  """TF-SAME max-pool over (T, H, W) of (B, T, H, W, C). I3D pads with zeros; its inputs are
  ReLU outputs (>= 0), where zero and -inf padding give the same maximum."""
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, *kernel, 1), (1, *strides, 1), "SAME")


class Unit3D(nnx.Module):
  """I3D's Unit3D: conv (TF-SAME, no bias) -> BatchNorm (eps 1e-3) -> ReLU; the conv is a 3D-CDC
  (`cdc` = 'st' | 't', theta) or vanilla (`cdc=None`)."""

  def __init__(self, cin: int, cout: int, kernel: Sequence[int], *, strides=(1, 1, 1), cdc=None,
               theta: float = 0.0, bn_momentum: float, bn_eps: float, rngs: nnx.Rngs):
    self.kernel = nnx.Param(nnx.initializers.kaiming_normal()(rngs.params(), (*kernel, cin, cout)))
    self.bn = batch_norm(cout, momentum=bn_momentum, epsilon=bn_eps, rngs=rngs)
    self.strides, self.cdc, self.theta = tuple(strides), cdc, float(theta)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    k = self.kernel[...].astype(x.dtype)
    if self.cdc is not None and self.theta:
      y = cdc_conv3d(x, k, theta=self.theta, variant=self.cdc, strides=self.strides)
    else:
      y = lax.conv_general_dilated(x, k, self.strides, "SAME", dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    return jax.nn.relu(self.bn(y, use_running_average=not train))


class Inception(nnx.Module):
  """I3D Inception module with spatial-only (1x3x3) convolutions, InC_{1xkxk} of Eq. (7).
  widths = (1x1, 3x3 reduce, 3x3, '5x5' reduce, '5x5' (also 1x3x3, as I3D), pool projection)."""

  def __init__(self, cin: int, widths: Sequence[int], *, spatial_kernel: int, pool: Sequence[int],
               rngs: nnx.Rngs, **bn):
    a, r3, c3, r5, c5, pp = widths
    k = (1, spatial_kernel, spatial_kernel)
    self.b0 = Unit3D(cin, a, (1, 1, 1), rngs=rngs, **bn)
    self.b1a = Unit3D(cin, r3, (1, 1, 1), rngs=rngs, **bn)
    self.b1b = Unit3D(r3, c3, k, rngs=rngs, **bn)
    self.b2a = Unit3D(cin, r5, (1, 1, 1), rngs=rngs, **bn)
    self.b2b = Unit3D(r5, c5, k, rngs=rngs, **bn)
    self.b3 = Unit3D(cin, pp, (1, 1, 1), rngs=rngs, **bn)
    self.pool = tuple(pool)
    self.out_features = a + c3 + c5 + pp

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    return jnp.concatenate([
        self.b0(x, train), self.b1b(self.b1a(x, train), train), self.b2b(self.b2a(x, train), train),
        self.b3(max_pool3d(x, self.pool, (1, 1, 1)), train)], axis=-1)


class Block(nnx.Module):
  """Pre-LN transformer layer: x + MSA_knn(LN(x)), then x + MLP(LN(x)) (Eq. 8), exact GELU."""

  def __init__(self, dim: int, *, num_heads: int, topk, mlp_ratio: float, qkv_bias: bool,
               ln_eps: float, rngs: nnx.Rngs):
    hidden = int(dim * mlp_ratio)
    self.norm1 = nnx.LayerNorm(dim, epsilon=ln_eps, rngs=rngs)
    self.attn = KNNSelfAttention(dim, num_heads=num_heads, topk=topk, qkv_bias=qkv_bias, rngs=rngs)
    self.norm2 = nnx.LayerNorm(dim, epsilon=ln_eps, rngs=rngs)
    self.fc1 = nnx.Linear(dim, hidden, rngs=rngs)
    self.fc2 = nnx.Linear(hidden, dim, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x + self.attn(self.norm1(x))
    return x + self.fc2(jax.nn.gelu(self.fc1(self.norm2(x)), approximate=False))


class Transformer(nnx.Module):
  def __init__(self, dim: int, depth: int, *, rngs: nnx.Rngs, **kw):
    self.blocks = nnx.List([Block(dim, rngs=rngs, **kw) for _ in range(depth)])

  def __call__(self, x: jax.Array) -> jax.Array:
    for b in self.blocks:
      x = b(x)
    return x


class Stage(nnx.Module):
  """One factorised stage: MSC (Inception modules + spatial max-pool, Eq. 7) -> Linear C->d ->
  k-NN spatial transformer over each frame's H*W tokens (Eq. 8) -> WMS-Trans over time
  (Eqs. 9-10) -> Linear d->C, plus the residual skip from the MSC output (Table V)."""

  def __init__(self, cin: int, modules: Sequence[Sequence[int]], pool: int, dim: int, m, *,
               rngs: nnx.Rngs, bn: dict):
    mods = []
    for widths in modules:
      mods.append(Inception(cin, widths, spatial_kernel=m.spatial_kernel, pool=m.inception_pool,
                            rngs=rngs, **bn))
      cin = mods[-1].out_features
    self.inception = nnx.List(mods)
    self.out_features, self.pool = cin, int(pool)
    self.proj_in = nnx.Linear(cin, dim, rngs=rngs)
    kw = dict(num_heads=m.num_heads, mlp_ratio=m.mlp_ratio, qkv_bias=m.qkv_bias, ln_eps=m.ln_eps)
    self.spatial = Transformer(dim, m.spatial_layers, topk=m.spatial_knn, rngs=rngs, **kw)
    self.scales = tuple(int(s) for s in m.temporal_scales) if m.temporal_block != "vanilla" else (1,)
    n_temporal = len(self.scales) if m.temporal_block == "unshared" else 1
    self.temporal = nnx.List([Transformer(dim, m.temporal_layers, topk=m.temporal_knn, rngs=rngs, **kw)
                              for _ in range(n_temporal)])
    self.proj_out = nnx.Linear(dim, cin, rngs=rngs)
    self.residual, self.tokens = bool(m.residual), m.temporal_tokens
    self.downsample, self.fuse = m.temporal_downsample, m.temporal_fuse

  def wms(self, z: jax.Array) -> jax.Array:
    """(N, T, d) -> (N, T, d): the transformer over lengths T / s for s in `scales` (average of s
    adjacent steps, or every s-th step), each with its own sinusoidal PE (Eqs. 9-10), repeated
    back to length T and fused (mean | max | sum). One set of weights unless 'unshared' (BM)."""
    n, t, d = z.shape
    outs = []
    for i, s in enumerate(self.scales):
      if t % s:
        raise ValueError(f"WMS-Trans needs the frame count at every stage ({t}) divisible by scale {s}")
      zs = z.reshape(n, t // s, s, d).mean(2) if self.downsample == "avg" else z[:, ::s]
      zs = zs + jnp.asarray(sinusoidal_table(t // s, d), zs.dtype)
      ys = self.temporal[i if len(self.temporal) > 1 else 0](zs)
      outs.append(jnp.repeat(ys, s, axis=1) if s > 1 else ys)
    if len(outs) == 1:
      return outs[0]
    stacked = jnp.stack(outs)
    return {"mean": stacked.mean(0), "max": stacked.max(0), "sum": stacked.sum(0)}[self.fuse]

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for m in self.inception:
      x = m(x, train)
    if self.pool:
      x = max_pool3d(x, (1, self.pool, self.pool), (1, 2, 2))
    b, t, h, w, _ = x.shape
    z = self.proj_in(x)
    d = z.shape[-1]
    z = self.spatial(z.reshape(b * t, h * w, d)).reshape(b, t, h, w, d)
    if self.tokens == "position":   # one temporal sequence per spatial position
      zt = self.wms(z.transpose(0, 2, 3, 1, 4).reshape(b * h * w, t, d))
      z = zt.reshape(b, h, w, t, d).transpose(0, 3, 1, 2, 4)
    else:                           # 'pooled': the frame-mean sequence; its update is broadcast
      pooled = z.mean(axis=(2, 3))
      z = z + (self.wms(pooled) - pooled)[:, :, None, None, :]
    y = self.proj_out(z)
    return x + y if self.residual else y


class Stream(nnx.Module):
  """One modality: CDC-Stem -> stages -> pooled features (B, C)."""

  def __init__(self, cin: int, stem_cdc, m, *, rngs: nnx.Rngs):
    bn = dict(bn_momentum=m.bn_momentum, bn_eps=m.bn_eps)
    w1, w2, w3 = m.stem_widths
    cdc = dict(cdc=stem_cdc, theta=m.theta if stem_cdc else 0.0)
    self.conv1 = Unit3D(cin, w1, m.stem_kernel1, strides=(1, 2, 2), rngs=rngs, **cdc, **bn)
    self.conv2 = Unit3D(w1, w2, (1, 1, 1), rngs=rngs, **bn)
    self.conv3 = Unit3D(w2, w3, m.stem_kernel3, rngs=rngs, **cdc, **bn)
    stages, c = [], w3
    for i in range(m.num_stages):
      stages.append(Stage(c, m.inception[i], m.stage_pool[i], m.dims[i], m, rngs=rngs, bn=bn))
      c = stages[-1].out_features
    self.stages = nnx.List(stages)
    self.out_features = c

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = max_pool3d(self.conv1(x, train), (1, 3, 3), (1, 2, 2))
    x = max_pool3d(self.conv3(self.conv2(x, train), train), (1, 3, 3), (1, 2, 2))
    for s in self.stages:
      x = s(x, train)
    return x.mean(axis=(1, 2, 3))


class Head(nnx.Module):
  """MLP head: LayerNorm -> [Linear -> GELU] (head_hidden > 0) -> dropout -> Linear."""

  def __init__(self, cin: int, num_classes: int, m, *, rngs: nnx.Rngs):
    self.norm = nnx.LayerNorm(cin, epsilon=m.ln_eps, rngs=rngs)
    self.hidden = nnx.Linear(cin, m.head_hidden, rngs=rngs) if m.head_hidden else None
    self.dropout = nnx.Dropout(m.dropout)
    self.fc = nnx.Linear(m.head_hidden or cin, num_classes, rngs=rngs)

  def __call__(self, x, train: bool, rngs):
    x = self.norm(x)
    if self.hidden is not None:
      x = jax.nn.gelu(self.hidden(x), approximate=False)
    return self.fc(self.dropout(x, deterministic=not train, rngs=rngs))


def stream_modalities(config) -> tuple[str, ...]:
  from data_pipelines.video_records import modalities_of  # TF-free module
  return tuple(m for m in ("rgb", "depth") if m in modalities_of(config.data.modalities))


def stem_variant(stem: str, modality: str):
  """'auto': CDC-ST for RGB, CDC-T for depth (Table IV's best pair); else as named."""
  if stem == "auto":
    return "st" if modality == "rgb" else "t"
  if stem not in _STEM_VARIANT:
    raise ValueError(f"model.stem={stem!r}; use auto | cdc_st | cdc_t | vanilla")
  return _STEM_VARIANT[stem]


@registry.register("mfst")
class MFST(nnx.Module):
  """MFST-Base / -Large / -BM on RGB, depth, or both (late fusion) video (B, T, H, W, C)."""

  def __init__(self, config, *, rngs: nnx.Rngs):
    m = config.model
    if m.temporal_block not in ("wms", "vanilla", "unshared"):
      raise ValueError(f"model.temporal_block={m.temporal_block!r}; use wms | vanilla | unshared")
    if m.num_stages > len(m.inception):
      raise ValueError(f"model.num_stages={m.num_stages} but model.inception lists {len(m.inception)} stages")
    self.modalities = stream_modalities(config)
    self.rgb = Stream(3, stem_variant(m.stem, "rgb"), m, rngs=rngs) if "rgb" in self.modalities else None
    self.depth = Stream(1, stem_variant(m.stem, "depth"), m, rngs=rngs) if "depth" in self.modalities else None
    heads = {}
    for name in self.modalities:
      heads[name] = Head(getattr(self, name).out_features, m.num_classes, m, rngs=rngs)
    self.rgb_head, self.depth_head = heads.get("rgb"), heads.get("depth")
    self.fusion_weights = tuple(float(w) for w in m.fusion_weights)

  def __call__(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> dict:
    """inputs: normalised float (B, T, H, W, C), RGB channels first, then depth."""
    logits = []
    if self.rgb is not None:
      logits.append(self.rgb_head(self.rgb(inputs[..., :3], train), train, rngs))
    if self.depth is not None:
      logits.append(self.depth_head(self.depth(inputs[..., -1:], train), train, rngs))
    if len(logits) == 1:
      return {"logits": logits[0]}
    fused = self.fusion_weights[0] * logits[0] + self.fusion_weights[1] * logits[1]
    return {"logits": fused, "aux_logits": tuple(logits)}
