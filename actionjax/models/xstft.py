"""X-STFT networks (Kumawat et al., "Depthwise Spatio-Temporal STFT Convolutional Neural Networks
for Human Action Recognition", TPAMI): ST-, S- and T-STFT blocks (Fig. 1c, 1g, 1f; Sec. 3.2-3.3)
and the Table 2 baselines (Fact.+DW Fig. 1e, ReLPV, I3D Fig. 1a, S3D Fig. 1d) in one Inception
3D CNN (Sec. 4): stem, Inception modules with stride-2 max-pools, global average pool, classifier.

Every layer, fixed STFT layers included, is followed by BatchNorm and LeakyReLU(0.01) (Sec. 4);
trainable weights have orthogonal initialisation (Sec. 5.2). The STFT kernels are constants
(actionjax/layers/stft.py), not parameters.

Widths the paper leaves open come from `../shared/reference/video_models.md`: an I3D stem and
I3D's nine module widths with the block's bottleneck b = multiplier x I3D's reduce width
(ST 3/8, S 1, T and Fact.+DW 11/4), which lands on Table 2's sizes. `model.stem='stft'` is the
text's literal reading (two X-STFT blocks as the stem).

Inputs: the video pipeline's batch after the trainer's normalisation, float (B, T, S, S, C).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from actionjax.layers import stft
from actionjax.layers.norm import batch_norm
from actionjax.models import registry
from actionjax.training.video_inputs import input_channels

BLOCKS = ("st", "s", "t", "fact_dw", "relpv", "i3d", "s3d")
# Bottleneck multipliers on I3D's reduce widths that land on Table 2 (reference/video_models.md).
# ReLPV's "extreme bottleneck" is not given: 1/4 is this project's choice.
DEFAULT_MULTIPLIER = {"st": 3 / 8, "s": 1.0, "t": 11 / 4, "fact_dw": 11 / 4, "relpv": 1 / 4,
                      "i3d": 1.0, "s3d": 1.0}
# I3D / S3D Inception-v1 modules 3b ... 5c: (a, r3, c3, r5, c5, pool) = 1x1 branch, "3x3" reduce
# and output, "5x5" reduce and output, pool-projection width.
I3D_MODULES = ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64),
               (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
               (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128),
               (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128))
LEAKY_SLOPE = 0.01


def _orthogonal():
  return nnx.initializers.orthogonal()


def leaky(x: jax.Array) -> jax.Array:
  return jax.nn.leaky_relu(x, LEAKY_SLOPE)


def max_pool(x: jax.Array, window: Sequence[int], strides: Sequence[int]) -> jax.Array:
  """3D max-pool with XLA SAME padding (-inf pad, the extra tap at the end)."""
  return nnx.max_pool(x, tuple(window), strides=tuple(strides), padding="SAME")


class ConvBN(nnx.Module):
  """Conv3d (no bias: BN cancels it) -> BatchNorm -> LeakyReLU(0.01); SAME padding."""

  def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), strides=(1, 1, 1), groups: int = 1, *,
               impl: str = "conv", rngs: nnx.Rngs):
    # depthwise (groups == cin), stride 1: `impl` may run it as shifted products (stft.use_shift)
    self.shift = groups == cin and groups > 1 and tuple(strides) == (1, 1, 1) and stft.use_shift(impl)
    self.conv = nnx.Conv(cin, cout, tuple(kernel), strides=tuple(strides), padding="SAME",
                         feature_group_count=groups, use_bias=False, kernel_init=_orthogonal(),
                         rngs=rngs)
    self.bn = batch_norm(cout, rngs=rngs)  # torch's momentum 0.1, eps 1e-5

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = stft.depthwise_shift(x, self.conv.kernel[...]) if self.shift else self.conv(x)
    return leaky(self.bn(y, use_running_average=not train))


class STFTBN(nnx.Module):
  """Fixed depthwise STFT (or ReLPV's channel-summed STFT) -> BatchNorm -> LeakyReLU(0.01)."""

  def __init__(self, cin: int, variant: str, n: int, depthwise: bool = True, *, impl: str = "conv",
               rngs: nnx.Rngs):
    self.variant, self.n, self.depthwise, self.impl = variant, n, depthwise, impl
    k2 = 2 * stft.num_frequencies(variant)
    self.out_features = cin * k2 if depthwise else k2
    self.bn = batch_norm(self.out_features, rngs=rngs)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.depthwise:
      y = stft.depthwise_stft(x, variant=self.variant, n=self.n, impl=self.impl)
    else:
      y = stft.summed_stft(x, variant=self.variant, n=self.n)
    return leaky(self.bn(y, use_running_average=not train))


def block_layers(kind: str, c: int, b: int, f: int, n: int, rngs: nnx.Rngs, impl: str = "conv") -> list[nnx.Module]:
  """The layers of one block c -> f with bottleneck b (Fig. 1; the Sec. 3.3 formulas count the
  conv weights: `block_param_formula`)."""
  if kind == "st":   # 1x1 c->b, 3D STFT b->26b, 1x1 26b->f
    return [ConvBN(c, b, rngs=rngs), STFTBN(b, "st", n, impl=impl, rngs=rngs), ConvBN(26 * b, f, rngs=rngs)]
  if kind == "s":    # 1x1 c->b, 2D STFT b->8b, depthwise n x 1 x 1 on 8b, 1x1 8b->f
    return [ConvBN(c, b, rngs=rngs), STFTBN(b, "s", n, impl=impl, rngs=rngs),
            ConvBN(8 * b, 8 * b, (n, 1, 1), groups=8 * b, impl=impl, rngs=rngs), ConvBN(8 * b, f, rngs=rngs)]
  if kind == "t":    # 1x1 c->b, depthwise 1 x n x n on b, 1D STFT b->2b, 1x1 2b->f
    return [ConvBN(c, b, rngs=rngs), ConvBN(b, b, (1, n, n), groups=b, impl=impl, rngs=rngs),
            STFTBN(b, "t", n, impl=impl, rngs=rngs), ConvBN(2 * b, f, rngs=rngs)]
  if kind == "fact_dw":  # T-STFT with a trainable depthwise n x 1 x 1, multiplier 2, for the STFT
    return [ConvBN(c, b, rngs=rngs), ConvBN(b, b, (1, n, n), groups=b, impl=impl, rngs=rngs),
            ConvBN(b, 2 * b, (n, 1, 1), groups=b, impl=impl, rngs=rngs), ConvBN(2 * b, f, rngs=rngs)]
  if kind == "relpv":  # 1x1 c->b, non-depthwise 3D STFT b->26, 1x1 26->f
    return [ConvBN(c, b, rngs=rngs), STFTBN(b, "st", n, depthwise=False, rngs=rngs),
            ConvBN(26, f, rngs=rngs)]
  if kind == "i3d":  # 1x1 c->b, n x n x n b->f
    return [ConvBN(c, b, rngs=rngs), ConvBN(b, f, (n, n, n), rngs=rngs)]
  if kind == "s3d":  # 1x1 c->b, 1 x n x n b->f, n x 1 x 1 f->f
    return [ConvBN(c, b, rngs=rngs), ConvBN(b, f, (1, n, n), rngs=rngs), ConvBN(f, f, (n, 1, 1), rngs=rngs)]
  raise ValueError(f"model.block={kind!r} is not one of {', '.join(BLOCKS)}")


def block_param_formula(kind: str, c: int, b: int, f: int, n: int = 3) -> int:
  """Trainable conv weights of a block (BN affine excluded): Sec. 3.3's formulas for ST / S / T-STFT,
  the same counting for the baselines."""
  return {"st": (c + 26 * f) * b, "s": (c + 8 * n + 8 * f) * b, "t": (c + n * n + 2 * f) * b,
          "fact_dw": (c + n * n + 2 * n + 2 * f) * b, "relpv": c * b + 26 * f,
          "i3d": c * b + n ** 3 * b * f, "s3d": c * b + n * n * b * f + n * f * f}[kind]


class Block(nnx.Module):
  def __init__(self, kind: str, c: int, b: int, f: int, n: int, *, impl: str = "conv", rngs: nnx.Rngs):
    self.layers = nnx.List(block_layers(kind, c, b, f, n, rngs, impl))

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for layer in self.layers:
      x = layer(x, train)
    return x


def bottleneck(multiplier: float, reduce: int) -> int:
  return max(1, int(round(multiplier * reduce)))


class Inception(nnx.Module):
  """1x1 branch, two blocks (I3D's "3x3" and "5x5" branches, the reduce conv is the block's first
  1x1x1), 3x3x3 max-pool + 1x1 branch; concatenated."""

  def __init__(self, kind: str, cin: int, widths: Sequence[int], multiplier: float, n: int, *,
               impl: str = "conv", rngs: nnx.Rngs):
    a, r3, c3, r5, c5, pool = widths
    self.branch0 = ConvBN(cin, a, rngs=rngs)
    self.branch1 = Block(kind, cin, bottleneck(multiplier, r3), c3, n, impl=impl, rngs=rngs)
    self.branch2 = Block(kind, cin, bottleneck(multiplier, r5), c5, n, impl=impl, rngs=rngs)
    self.branch3 = ConvBN(cin, pool, rngs=rngs)
    self.out_features = a + c3 + c5 + pool

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    p = self.branch3(max_pool(x, (3, 3, 3), (1, 1, 1)), train)
    return jnp.concatenate([self.branch0(x, train), self.branch1(x, train), self.branch2(x, train), p],
                           axis=-1)


def settings(config) -> dict:
  """Resolved architecture settings of a run config (shared with the PyTorch mirror)."""
  m = config.model
  kind = m.get("block", "t")
  if kind not in BLOCKS:
    raise ValueError(f"model.block={kind!r} is not one of {', '.join(BLOCKS)}")
  mult = m.get("bottleneck_multiplier", 0.0) or DEFAULT_MULTIPLIER[kind]
  stem = m.get("stem", "i3d")
  if stem not in ("i3d", "stft"):
    raise ValueError(f"model.stem={stem!r}: use i3d or stft")
  return {"block": kind, "multiplier": float(mult), "stem": stem, "n": int(m.get("stft_n", 3)),
          "stem_widths": tuple(m.get("stem_widths", (64, 64, 192))),
          "stem_bottlenecks": tuple(m.get("stem_bottlenecks", (8, 32))),
          "modules": tuple(tuple(w) for w in m.get("modules", I3D_MODULES)),
          "pool_after": tuple(m.get("pool_after", (1, 6))),
          "pool_windows": tuple(tuple(w) for w in m.get("pool_windows", ((3, 3, 3), (2, 2, 2)))),
          "in_channels": input_channels(config), "num_classes": int(m.num_classes),
          "dropout": float(m.get("dropout", 0.0))}


def depthwise_impl(config) -> str:
  """model.depthwise: auto (shifted products on CPU, grouped convolution elsewhere) | conv | shift."""
  return config.model.get("depthwise", "auto")


@registry.register("xstft")
class XSTFT(nnx.Module):
  """The X-STFT network of `config.model.block` (Sec. 4, Figs. 5-7; Table 2 baselines)."""

  def __init__(self, config, *, rngs: nnx.Rngs):
    s = settings(config)
    self.s = s
    impl = depthwise_impl(config)
    stft.use_shift(impl)  # validates
    kind, n, mult = s["block"], s["n"], s["multiplier"]
    s0, s1, s2 = s["stem_widths"]
    cin = s["in_channels"]
    if s["stem"] == "i3d":  # 7x7x7/2 conv, 1x3x3/(1,2,2) pool, 1x1x1, 3x3x3, 1x3x3/(1,2,2) pool
      self.stem = nnx.List([ConvBN(cin, s0, (7, 7, 7), (2, 2, 2), rngs=rngs), ConvBN(s0, s1, rngs=rngs),
                            ConvBN(s1, s2, (3, 3, 3), rngs=rngs)])
    else:  # the text's two X-STFT blocks, 3x3x3/2 pool after the first, 1x3x3/(1,2,2) after the second
      b0, b1 = (bottleneck(mult, r) for r in s["stem_bottlenecks"])
      self.stem = nnx.List([Block(kind, cin, b0, s1, n, impl=impl, rngs=rngs),
                            Block(kind, s1, b1, s2, n, impl=impl, rngs=rngs)])
    mods, c = [], s2
    for widths in s["modules"]:
      mods.append(Inception(kind, c, widths, mult, n, impl=impl, rngs=rngs))
      c = mods[-1].out_features
    self.inception = nnx.List(mods)
    self.dropout = nnx.Dropout(s["dropout"])
    self.head = nnx.Linear(c, s["num_classes"], kernel_init=_orthogonal(), rngs=rngs)

  def features(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.s["stem"] == "i3d":
      x = self.stem[0](x, train)
      x = max_pool(x, (1, 3, 3), (1, 2, 2))
      x = self.stem[2](self.stem[1](x, train), train)
    else:
      x = max_pool(self.stem[0](x, train), (3, 3, 3), (2, 2, 2))
      x = self.stem[1](x, train)
    x = max_pool(x, (1, 3, 3), (1, 2, 2))
    pools = dict(zip(self.s["pool_after"], self.s["pool_windows"]))
    for i, module in enumerate(self.inception):
      x = module(x, train)
      if i in pools:
        x = max_pool(x, pools[i], (2, 2, 2))
    return x.mean(axis=(1, 2, 3))

  def __call__(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> dict:
    """inputs: normalised float (B, T, H, W, C) -> {"logits": (B, num_classes)}."""
    x = self.features(inputs, train)
    x = self.dropout(x, deterministic=not train, rngs=rngs)
    return {"logits": self.head(x)}
