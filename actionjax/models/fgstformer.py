"""FG-STFormer: Focal and Global Spatial-Temporal Transformer (Gao et al., ACCV 2022).

Layout inside the model is channels-last (N, T, V, C) with N = batch x persons. Stage 1 stacks
L1 layers of Basic-SFormer + FG-TFormer over all joints (§3.2); stage 2 splits into a focal-joint
branch (Eqs. (2)-(3)) and a body-part branch, each with Basic-SFormer, joint-part cross-attention
(JP-CA, Eq. (4)) and FG-TFormer (Eq. (5)); GAP of both branches, concatenation, two FC layers.

Choices where the paper is silent (each also a config key under `config.model`):
- Normalisation: the paper names none; we follow DSTA-Net [38], on which its blocks are built,
  and put BatchNorm (torch momentum 0.1 = flax 0.9, eps 1e-5) after each linear/conv output
  (`norm='batch'`, or 'none').
- The channel doubling (layers 3 and 5) happens in the FG-TFormer block, whose V convolution has
  stride 2 (§3.4); its Q/K come from every second frame (the frames the stride-2 convolution is
  centred on) and the shortcut is a linear map of those frames, so the T'xT' map matches V.
- Persons are folded into the batch and their pooled features averaged before the classifier;
  `person_pool='mean'` averages the all-zero second person of single-actor samples in, as CTR-GCN
  does; 'masked_mean' averages only persons with a non-zero input.
- Initialisation: PyTorch's nn.Linear / nn.Conv2d defaults (`init='torch'`), which the authors'
  PyTorch code would have used; 'flax' keeps flax's.
- Dropout: the paper uses none (`dropout=0.0`); a positive rate drops fc1's output with the
  call's `rngs.dropout()`.
"""
from __future__ import annotations

import ast
from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from actionjax.layers import init as init_lib
from actionjax.layers.attention import MultiHeadAttention, SowsAttention, attention_weights
from actionjax.layers.norm import batch_norm
from actionjax.layers.position import sinusoidal_table
from actionjax.layers.temporal import TemporalConv
from actionjax.models import registry

# P = 10 body parts, 0-based joint indices (§3.3, "physical skeleton structure and human prior").
PARTS = {
    # NTU RGB+D, 25 Kinect v2 joints: head, torso, then upper arm / hand, thigh / foot per side.
    "ntu25": ((2, 3), (0, 1, 20), (4, 5), (6, 7, 21, 22), (8, 9), (10, 11, 23, 24),
              (12, 13), (14, 15), (16, 17), (18, 19)),
    # NW-UCLA, 20 Kinect v1 joints (same order without the hand tips / thumbs / spine shoulder).
    "nwucla20": ((2, 3), (0, 1), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15),
                 (16, 17), (18, 19)),
}


def part_partition(config: ml_collections.ConfigDict) -> tuple[tuple[int, ...], ...]:
  """The part partition named by `model.parts` ('auto' picks by data.num_joints) or given inline."""
  parts = config.model.parts
  if isinstance(parts, str) and parts.lstrip().startswith("("):  # inline, e.g. from the CLI
    parts = ast.literal_eval(parts)
  if isinstance(parts, str):
    if parts == "auto":
      parts = {25: "ntu25", 20: "nwucla20"}[config.data.num_joints]
    parts = PARTS[parts]
  return tuple(tuple(int(j) for j in p) for p in parts)


def layer_strides(channels: Sequence[int]) -> tuple[int, ...]:
  """Temporal stride 2 where the width grows (layers 3 and 5 of the paper config, §4.2)."""
  return tuple(2 if i and c > channels[i - 1] else 1 for i, c in enumerate(channels))


class Norm(nnx.Module):
  """BatchNorm over all but the channel axis, or identity (`norm='none'`). The float32 running
  statistics would promote a bf16 input; the output is cast back to the input dtype."""

  def __init__(self, features: int, kind: str, *, rngs: nnx.Rngs):
    self.bn = batch_norm(features, rngs=rngs) if kind == "batch" else None

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    return x if self.bn is None else self.bn(x, use_running_average=not train).astype(x.dtype)


class SFormer(nnx.Module):
  """Basic-SFormer (§3.1, §3.3, Fig. 3a) or, called with `context`, JP-CA (Eq. (4), Fig. 3b).

  Self-attention: per-frame MSA over the V nodes with sinusoidal node-type encoding added to the
  query/key input and a learnable global map A_g shared by all sequences added to each head's
  map (DSTA-Net). Then W_O + LeakyReLU with a residual, and the FFN (linear + LeakyReLU) with a
  residual. Cross-attention takes queries from x and keys/values from `context` (no A_g, no
  position encoding: the two branches have no common node order).
  """

  def __init__(self, features: int, *, num_heads: int, qk_features: int, num_positions: int,
               global_map: int | None, norm: str, slope: float, rngs: nnx.Rngs):
    self.num_positions, self.slope = num_positions, slope
    self.attn = MultiHeadAttention(
        features, features, features, num_heads=num_heads, qk_features=qk_features,
        global_map=None if global_map is None else (global_map, global_map), rngs=rngs)
    self.norm1 = Norm(features, norm, rngs=rngs)
    self.ffn = nnx.Linear(features, features, rngs=rngs)
    self.norm2 = Norm(features, norm, rngs=rngs)

  def __call__(self, x: jax.Array, *, context: jax.Array | None = None,
               ids: jax.Array | None = None, train: bool = False) -> jax.Array:
    """x: (N, T, V, C); ids: (N, T, V) node types of the rows (focal joints), default 0..V-1."""
    if context is None:
      pe = jnp.asarray(sinusoidal_table(self.num_positions, x.shape[-1]), x.dtype)
      pe = pe[: x.shape[-2]] if ids is None else pe[ids]
      z = self.attn(x + pe, x + pe, values=x)
    else:
      z = self.attn(x, context)
    h = jax.nn.leaky_relu(self.norm1(z, train), self.slope) + x
    return jax.nn.leaky_relu(self.norm2(self.ffn(h), train), self.slope) + h


class TFormer(SowsAttention, nnx.Module):
  """FG-TFormer (§3.4, Eq. (5), Fig. 4), per joint over time, with the Table 3 ablations.

  mode='fg':    head_h = [A_h TCN_h(X)] W_h + TCN_h(X); TCN_h a k_t x 1 conv with dilation d_h.
  mode='basic': Basic-TFormer, head_h = [A_h (X W_V^h)] W_h (global MSA only).
  mode='tcn':   head_h = TCN_h(X) (dilated convolutions only, no attention).
  X^{l+1} = LeakyReLU(Concat_h[head_h] W_O) + shortcut(X). Q, K get an absolute sinusoidal
  frame encoding; head width is C_out / H.
  """

  def __init__(self, in_features: int, out_features: int, *, num_heads: int, kernel_size: int,
               dilations: Sequence[int], stride: int, mode: str, norm: str, slope: float,
               rngs: nnx.Rngs):
    if mode not in ("fg", "basic", "tcn"):
      raise ValueError(f"model.temporal={mode!r}: use fg | basic | tcn")
    if len(dilations) != num_heads or out_features % num_heads:
      raise ValueError("model.temporal_dilations needs one rate per temporal head, and the widths"
                       " must divide by model.temporal_heads")
    self.mode, self.stride, self.slope, self.num_heads = mode, stride, slope, num_heads
    hd = out_features // num_heads
    if mode != "tcn":
      self.q = nnx.Linear(in_features, num_heads * hd, rngs=rngs)
      self.k = nnx.Linear(in_features, num_heads * hd, rngs=rngs)
      self.w_h = nnx.List([nnx.Linear(hd, hd, rngs=rngs) for _ in range(num_heads)])
    if mode == "basic":
      self.v = nnx.List([nnx.Linear(in_features, hd, rngs=rngs) for _ in range(num_heads)])
    else:
      self.tcn = nnx.List([TemporalConv(in_features, hd, kernel_size, dilation=d, stride=stride,
                                        rngs=rngs) for d in dilations])
      self.tcn_norm = nnx.List([Norm(hd, norm, rngs=rngs) for _ in range(num_heads)])
    self.w_o = nnx.Linear(out_features, out_features, rngs=rngs)
    self.norm = Norm(out_features, norm, rngs=rngs)
    project = stride > 1 or in_features != out_features
    self.down = nnx.Linear(in_features, out_features, rngs=rngs) if project else None
    self.down_norm = Norm(out_features, norm, rngs=rngs) if project else None

  def attention(self, x: jax.Array) -> jax.Array:
    """Temporal maps (N, V, H, T', T') from the frames t * stride of x (N, V, T, C)."""
    t, c = x.shape[-2:]
    y = (x + jnp.asarray(sinusoidal_table(t, c), x.dtype))[:, :, :: self.stride]
    q = self.q(y).reshape(*y.shape[:-1], self.num_heads, -1)
    k = self.k(y).reshape(*y.shape[:-1], self.num_heads, -1)
    return attention_weights(q, k)

  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    # Work per joint over time in (N, V, T, C): the convolutions and the T'xT' maps then batch
    # over (N, V) with time next to the channels, so one transpose in and one out replace the
    # per-op transposes XLA would otherwise insert.
    x = jnp.swapaxes(x, 1, 2)
    xs = x[:, :, :: self.stride]
    a = self.attention(x) if self.mode != "tcn" else None
    if a is not None:
      self.sow_attention(a)
    heads = []
    for h in range(self.num_heads):
      if self.mode == "basic":
        v = self.v[h](xs)
      else:
        v = self.tcn_norm[h](self.tcn[h](x, time_axis=2), train)
      if self.mode == "tcn":
        heads.append(v)
        continue
      o = self.w_h[h](a[:, :, h] @ v)
      heads.append(o + v if self.mode == "fg" else o)
    out = jax.nn.leaky_relu(self.norm(self.w_o(jnp.concatenate(heads, -1)), train), self.slope)
    shortcut = x if self.down is None else self.down_norm(self.down(xs), train)
    return jnp.swapaxes(out + shortcut, 1, 2)


def layer_qk_features(spec: int | Sequence[int], num_layers: int) -> tuple[int, ...]:
  """Per-head query/key width of each layer's spatial attention: one value for every layer, or
  one per layer (DSTA-Net's `inter_channels` grow with the width: 16, 16, 32, 32, 64, ...)."""
  spec = (int(spec),) if isinstance(spec, int) else tuple(int(q) for q in spec)
  if len(spec) == 1:
    return spec * num_layers
  if len(spec) != num_layers:
    raise ValueError(f"model.spatial_qk_features has {len(spec)} entries for {num_layers} layers "
                     "(model.channels); give one value, or one per layer")
  return spec


def _sformer(m, features: int, positions: int, global_map: int | None, qk: int,
             rngs) -> SFormer:
  return SFormer(features, num_heads=m.spatial_heads, qk_features=qk,
                 num_positions=positions, global_map=global_map, norm=m.norm,
                 slope=m.leaky_slope, rngs=rngs)


def _tformer(m, c_in: int, c_out: int, stride: int, rngs) -> TFormer:
  return TFormer(c_in, c_out, num_heads=m.temporal_heads, kernel_size=m.temporal_kernel,
                 dilations=tuple(m.temporal_dilations), stride=stride, mode=m.temporal,
                 norm=m.norm, slope=m.leaky_slope, rngs=rngs)


class Stage1Layer(nnx.Module):
  def __init__(self, m, c_in: int, c_out: int, stride: int, num_joints: int, qk: int, rngs):
    self.sformer = _sformer(m, c_in, num_joints, num_joints, qk, rngs)
    self.tformer = _tformer(m, c_in, c_out, stride, rngs)

  def __call__(self, x, train):
    return self.tformer(self.sformer(x, train=train), train=train)


class Stage2Layer(nnx.Module):
  """One FG-SFormer (Basic-SFormer per branch + JP-CA both ways) + FG-TFormer per branch."""

  def __init__(self, m, c_in: int, c_out: int, stride: int, num_joints: int, num_nodes: int,
               num_parts: int, qk: int, rngs):
    self.joint_s = _sformer(m, c_in, num_joints, num_nodes, qk, rngs)
    self.joint_t = _tformer(m, c_in, c_out, stride, rngs)
    part, jpca = m.part_branch, m.part_branch and m.jpca
    self.part_s = _sformer(m, c_in, num_parts, num_parts, qk, rngs) if part else None
    self.part_t = _tformer(m, c_in, c_out, stride, rngs) if part else None
    self.part_to_joint = _sformer(m, c_in, 0, None, qk, rngs) if jpca else None
    self.joint_to_part = _sformer(m, c_in, 0, None, qk, rngs) if jpca else None

  def __call__(self, xj, xp, ids, train):
    xj = self.joint_s(xj, ids=ids, train=train)
    if self.part_s is None:
      return self.joint_t(xj, train=train), None
    xp = self.part_s(xp, train=train)
    if self.part_to_joint is not None:  # both directions read the pre-exchange features
      xj, xp = (self.part_to_joint(xj, context=xp, train=train),
                self.joint_to_part(xp, context=xj, train=train))
    return self.joint_t(xj, train=train), self.part_t(xp, train=train)


def select_focal(x: jax.Array, w_p: jax.Array, k: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Focal joints (Eqs. (2)-(3)): S = sigmoid(X W_p / ||W_p||), top-K joints per frame.

  Returns (features (N, T, K, C), indices (N, T, K) in descending score order, scores (N, T, V)).
  The gathered features are multiplied by their scores, as in top-k graph pooling (gPool, Graph
  U-Nets): a hard top-k alone passes no gradient to W_p. The ranking is by the logits, the same
  order as the scores' (sigmoid is monotonic), because float32 rounds every logit above ~17 to a
  score of exactly 1.0; ranking those ties fell back to joint order, differently in each framework
  (`benchmarks/fgstformer_dynamics.py`).
  """
  w = w_p.astype(x.dtype)
  logits = (x @ w) / jnp.linalg.norm(w)
  s = jax.nn.sigmoid(logits)
  idx = jax.lax.top_k(logits, k)[1]
  vals = jnp.take_along_axis(s, idx, axis=-1)
  xj = jnp.take_along_axis(x, idx[..., None], axis=2) * vals[..., None]
  return xj, idx, s


def embed_parts(x: jax.Array, parts: Sequence[Sequence[int]], dense: nnx.Linear) -> jax.Array:
  """Part embedding (§3.3): concatenate each part's joint features, one shared linear layer.

  Parts have 2-4 joints; each is zero-padded to the largest part before the shared layer, so the
  padded slots contribute nothing (their weight rows get no gradient) and one matrix serves all.
  """
  n, t, v, c = x.shape
  size = max(len(p) for p in parts)
  index = jnp.asarray([list(p) + [v] * (size - len(p)) for p in parts])  # v = the zero joint
  xz = jnp.concatenate([x, jnp.zeros((n, t, 1, c), x.dtype)], axis=2)
  return dense(xz[:, :, index].reshape(n, t, len(parts), size * c))


@registry.register("fgstformer")
class FGSTFormer(nnx.Module):
  """FG-STFormer classifier; inputs (B, M, T, V, C) -> {"logits": (B, num_classes)}."""

  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    m, d = config.model, config.data
    widths = tuple(m.channels)
    l1, l2 = m.depths
    if len(widths) != l1 + l2:
      raise ValueError(f"model.channels has {len(widths)} widths for depths {tuple(m.depths)}")
    if m.jpca and not m.part_branch:
      raise ValueError("model.jpca needs model.part_branch")
    v = d.num_joints
    if m.focal and not 0 < m.num_focal <= v:
      raise ValueError(f"model.num_focal={m.num_focal} must be in [1, data.num_joints={v}]")
    self.strides = layer_strides(widths)
    self.slope, self.person_pool = m.leaky_slope, m.person_pool
    self.focal = m.focal and l2 > 0
    self.num_focal = m.num_focal if self.focal else v
    self.embed = nnx.Linear(d.channels, widths[0], rngs=rngs)
    ins = (widths[0],) + widths[:-1]
    qk = layer_qk_features(m.spatial_qk_features, len(widths))
    self.stage1 = nnx.List([Stage1Layer(m, ins[i], widths[i], self.strides[i], v, qk[i], rngs)
                            for i in range(l1)])
    c2 = ins[l1] if l2 else widths[-1]
    self.w_p = nnx.Param(jax.random.normal(rngs.params(), (c2,))) if self.focal else None
    self.parts = part_partition(config) if m.part_branch and l2 else None
    self.part_embed = None if self.parts is None else nnx.Linear(
        max(len(p) for p in self.parts) * c2, c2, rngs=rngs)
    num_parts = len(self.parts) if self.parts else 0
    self.stage2 = nnx.List([
        Stage2Layer(m, ins[i], widths[i], self.strides[i], v, self.num_focal, num_parts, qk[i],
                    rngs)
        for i in range(l1, l1 + l2)])
    feat = widths[-1] * (2 if self.parts is not None else 1)
    self.fc1 = nnx.Linear(feat, m.hidden, rngs=rngs)
    self.dropout = nnx.Dropout(m.dropout) if m.dropout > 0 else None
    self.fc2 = nnx.Linear(m.hidden, m.num_classes, rngs=rngs)
    init_lib.apply(m.get("init", "flax"), self, rngs)

  def features(self, inputs: jax.Array, *, train: bool = False) -> dict:
    """Per-sequence branch outputs and focal-joint scores (for tests and visualisation)."""
    b, mm, t, v, c = inputs.shape
    x = self.embed(inputs.reshape(b * mm, t, v, c))
    for layer in self.stage1:
      x = layer(x, train)
    out = {"stage1": x}
    ids, xp = None, None
    if self.focal:
      x, ids, out["scores"] = select_focal(x, self.w_p[...], self.num_focal)
      out["focal_ids"] = ids
    if self.parts is not None:
      xp = embed_parts(out["stage1"], self.parts, self.part_embed)
    for i, layer in enumerate(self.stage2):
      x, xp = layer(x, xp, ids, train)
      if ids is not None:
        ids = ids[:, :: self.strides[len(self.stage1) + i]]
    out["joint"], out["part"] = x, xp
    return out

  def __call__(self, inputs: jax.Array, *, train: bool = False,
               rngs: nnx.Rngs | None = None) -> dict:
    b, mm = inputs.shape[:2]
    f = self.features(inputs, train=train)
    pooled = f["joint"].mean(axis=(1, 2))
    if f["part"] is not None:
      pooled = jnp.concatenate([pooled, f["part"].mean(axis=(1, 2))], axis=-1)
    pooled = pooled.reshape(b, mm, -1)
    if self.person_pool == "masked_mean":
      present = jnp.any(inputs != 0, axis=(2, 3, 4)).astype(pooled.dtype)[..., None]
      pooled = (pooled * present).sum(1) / jnp.maximum(present.sum(1), 1)
    else:
      pooled = pooled.mean(axis=1)
    h = jax.nn.leaky_relu(self.fc1(pooled), self.slope)
    if self.dropout is not None:
      h = self.dropout(h, deterministic=not train, rngs=rngs)
    return {"logits": self.fc2(h)}
