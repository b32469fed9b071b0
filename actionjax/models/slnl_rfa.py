"""SLnL-rFA (Hu et al., AAAI 2019): transform network, residual frequency attention, synchronous
local / non-local blocks and three classifiers (position, velocity, concatenation), §3.1-3.4.

Layout inside: channels-last `(B*M, T, N, C)` pseudo-images, persons folded into the batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from actionjax.layers.frequency import FrequencyAttention
from actionjax.layers.nonlocal_block import NonLocal
from actionjax.layers.norm import batch_norm
from actionjax.models import registry

TRANSFORMS = ("coord_skeleton", "coord", "skeleton", "cnn", "none")
STREAMS = {"posvel": ("pos", "vel"), "pos": ("pos",), "vel": ("vel",)}


def velocity(x: jax.Array) -> jax.Array:
  """Frame differences x[t+1] - x[t] on `(..., T, V, C)`, zero at the last frame (keeps T)."""
  d = x[..., 1:, :, :] - x[..., :-1, :, :]
  return jnp.concatenate([d, jnp.zeros_like(x[..., :1, :, :])], axis=-3)


def dropout(x: jax.Array, rate: float, train: bool, rngs: nnx.Rngs | None) -> jax.Array:
  """Inverted dropout drawing its key from the call's `rngs.dropout()` (docs/architecture.md)."""
  if not train or rate <= 0.0:
    return x
  keep = jax.random.bernoulli(rngs.dropout(), 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


def max_pool(x: jax.Array) -> jax.Array:
  """2x2 max-pooling over (T, N), stride 2, floor on odd sizes (§4.1: every two blocks)."""
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


class Transform(nnx.Module):
  """Transform network (§3.1): coordinate transformer J = C J0 with C in R^{Kd x d}, then the
  skeleton transformer S' = (W_s S^T)^T with W_s in R^{N' x N}; 'cnn' is Table 3's CNN-V."""

  def __init__(self, kind: str, d: int, n: int, k: int, n_new: int, *, rngs: nnx.Rngs):
    if kind not in TRANSFORMS:
      raise ValueError(f"model.transform={kind!r} not in {TRANSFORMS}")
    self.kind = kind
    init = nnx.initializers.lecun_normal()  # fan-in scaling; the paper gives no initialiser
    if "coord" in kind:
      self.coord = nnx.Param(init(rngs.params(), (k * d, d)))
    if "skeleton" in kind:
      self.skeleton = nnx.Param(init(rngs.params(), (n_new, n)))
    if kind == "cnn":
      # CNN-V (Table 3): same depth (two learned layers) as CS-T, ordinary convolutions instead.
      self.conv1 = nnx.Conv(d, k * d, (1, 1), rngs=rngs)
      self.conv2 = nnx.Conv(k * d, k * d, (3, 3), rngs=rngs)
    self.out_channels = k * d if kind in ("coord_skeleton", "coord", "cnn") else d
    self.out_joints = n_new if "skeleton" in kind else n

  def __call__(self, x: jax.Array) -> jax.Array:
    if "coord" in self.kind:
      x = jnp.einsum("btnd,kd->btnk", x, self.coord[...])
    if "skeleton" in self.kind:
      x = jnp.einsum("btnc,mn->btmc", x, self.skeleton[...])
    if self.kind == "cnn":
      x = self.conv2(self.conv1(x))
    return x


class Block(nnx.Module):
  """Baseline local block (Fig. 3b) or SLnL block (Fig. 3c) when `nonlocal_kinds` is non-empty.

  tLocal (k x 1), sLocal (1 x k) and stLocal (k x k) convolutions, each summed with its
  non-local module (tNon-Local, sNon-Local, stNon-Local; Eqs. 6-11), then BN, the residual path
  and ReLU. layout 'sequential': t -> s -> st; 'parallel_ts': (t + s) on the input -> st.
  """

  def __init__(self, cin: int, cout: int, k: int, nonlocal_kinds: tuple[str, ...], *, layout: str,
               embed_ratio: float, bn_momentum: float, rngs: nnx.Rngs):
    self.layout = layout
    s_in = cin if layout == "parallel_ts" else cout
    self.t_local = nnx.Conv(cin, cout, (k, 1), rngs=rngs)
    self.s_local = nnx.Conv(s_in, cout, (1, k), rngs=rngs)
    self.st_local = nnx.Conv(cout, cout, (k, k), rngs=rngs)
    embed = max(1, int(cout * embed_ratio))
    nl = lambda kind, p: NonLocal(p, cout, embed, kind=kind, rngs=rngs) if kind in nonlocal_kinds else None
    self.t_nonlocal = nl("temporal", cin)
    self.s_nonlocal = nl("spatial", s_in)
    self.st_nonlocal = nl("spatiotemporal", cout)
    self.bn = batch_norm(cout, momentum=bn_momentum, rngs=rngs)
    self.shortcut = nnx.Conv(cin, cout, (1, 1), rngs=rngs) if cin != cout else None

  @staticmethod
  def _branch(local, nonlocal_, x):
    y = local(x)
    return y if nonlocal_ is None else y + nonlocal_(x)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    h = self._branch(self.t_local, self.t_nonlocal, x)
    if self.layout == "parallel_ts":
      h = h + self._branch(self.s_local, self.s_nonlocal, x)
    else:
      h = self._branch(self.s_local, self.s_nonlocal, h)
    h = self._branch(self.st_local, self.st_nonlocal, h)
    res = x if self.shortcut is None else self.shortcut(x)
    return jax.nn.relu(self.bn(h, use_running_average=not train) + res)


class Stream(nnx.Module):
  """One input stream (position or velocity): input BN (§4.1) -> transform -> FA -> M1 SLnL
  blocks -> M2 local blocks -> global average pool. Input `(B', T, V, C)`, output `(B', C_last)`."""

  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    m, d = config.model, config.data
    v, c = d.num_joints, d.channels
    self.input_bn = batch_norm(v * c, momentum=m.bn_momentum, rngs=rngs) if m.input_bn else None
    self.transform = Transform(m.transform, c, v, m.num_coords, m.num_new_joints, rngs=rngs)
    cin, n = self.transform.out_channels, self.transform.out_joints
    fa = m.frequency_attention
    self.fa = None if fa == "none" else FrequencyAttention(
        d.num_frames, n, variant=fa, ratio=m.fa_ratio, hidden_act=m.fa_hidden_act, rngs=rngs)
    blocks = []
    for i, (cout, k) in enumerate(zip(m.channels, m.kernel_sizes)):
      kinds = tuple(m.nonlocal_kinds) if i < m.num_slnl_blocks else ()
      blocks.append(Block(cin, cout, k, kinds, layout=m.block_layout, embed_ratio=m.nonlocal_ratio,
                          bn_momentum=m.bn_momentum, rngs=rngs))
      cin = cout
    self.blocks = nnx.List(blocks)
    self.pool_every, self.dropout = m.pool_every, m.dropout
    self.out_features = cin

  def __call__(self, x: jax.Array, train: bool, rngs: nnx.Rngs | None) -> jax.Array:
    b, t, v, c = x.shape
    if self.input_bn is not None:  # per (joint, coordinate) channel: normalises the scale
      x = self.input_bn(x.reshape(b, t, v * c), use_running_average=not train).reshape(b, t, v, c)
    x = self.transform(x)
    if self.fa is not None:
      x = self.fa(x)
    for i, block in enumerate(self.blocks):
      x = dropout(block(x, train), self.dropout, train, rngs)  # §4.1: dropout 0.2 in each block
      if self.pool_every and (i + 1) % self.pool_every == 0 and i + 1 < len(self.blocks):
        x = max_pool(x)
    return x.mean(axis=(1, 2))


@registry.register("slnl_rfa")
class SLnLRFA(nnx.Module):
  """Two-stream SLnL-rFA with position, velocity and concatenation classifiers (Eqs. 20-21).

  Returns {"logits": concatenation classifier, "aux_logits": (position, velocity)}; inference
  uses the concatenation's logits only (§3.4). With one stream (Table 3's Pos-N / Vel-N), that
  stream's classifier gives the logits and there are no aux heads.
  """

  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    m = config.model
    if m.streams not in STREAMS:
      raise ValueError(f"model.streams={m.streams!r} not in {tuple(STREAMS)}")
    if len(m.kernel_sizes) != len(m.channels):
      raise ValueError(f"model.kernel_sizes {m.kernel_sizes} and model.channels {m.channels} differ in length")
    self.stream_names = STREAMS[m.streams]
    self.person_pool = m.person_pool
    self.streams = nnx.List([Stream(config, rngs=rngs) for _ in self.stream_names])
    f = self.streams[0].out_features
    heads = [nnx.Linear(f, m.num_classes, rngs=rngs) for _ in self.stream_names]
    if len(self.stream_names) == 2:
      heads.append(nnx.Linear(2 * f, m.num_classes, rngs=rngs))
    self.heads = nnx.List(heads)

  def __call__(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> dict:
    b, m, t, v, c = inputs.shape
    feats = []
    for name, stream in zip(self.stream_names, self.streams):
      x = inputs if name == "pos" else velocity(inputs)
      f = stream(x.reshape(b * m, t, v, c), train, rngs).reshape(b, m, -1)
      # Persons share the network and are merged after pooling: max as in HCN (Li et al. 2018),
      # the baseline this paper extends; 'mean' is the alternative.
      feats.append(f.max(axis=1) if self.person_pool == "max" else f.mean(axis=1))
    logits = [head(f) for head, f in zip(self.heads, feats)]
    if len(feats) == 1:
      return {"logits": logits[0]}
    concat = self.heads[2](jnp.concatenate(feats, axis=-1))
    return {"logits": concat, "aux_logits": (logits[0], logits[1])}
