"""Pure-PyTorch mirror of actionjax.models.xstft (X-STFT networks, Kumawat et al., TPAMI).

Imports only torch. Takes the same normalised (B, T, H, W, C) input as the JAX model and runs
channels-first (NCDHW) inside, where PyTorch's conv3d is fastest. Module names follow the NNX
attribute paths (`stem.0.conv.weight`, `inception.3.branch1.layers.2.bn.running_var`, `head.weight`),
so the key map is mechanical. XLA SAME padding (the extra pad at the end) is reproduced with
explicit `F.pad`; max-pools pad with -inf. The STFT kernels are constants rebuilt
from Eq. 2 (plain tensors, not buffers: not in the state_dict). Built from plain arguments: `XSTFT(**kwargs)`.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.01
_FREQS = {  # (t, h, w) in units of 1/n: Fig. 3 (3D), Sec. 3.2 (2D), 1D temporal
    "st": [(1, 0, 0), (1, 0, 1), (1, 0, -1), (0, 1, 0), (0, 1, 1), (0, 1, -1), (1, 1, 0), (1, 1, 1),
           (1, 1, -1), (1, -1, 0), (1, -1, 1), (1, -1, -1), (0, 0, 1)],
    "s": [(0, 1, 0), (0, 0, 1), (0, 1, 1), (0, 1, -1)],
    "t": [(1, 0, 0)],
}


def stft_window(variant: str, n: int) -> tuple[int, int, int]:
  return {"st": (n, n, n), "s": (1, n, n), "t": (n, 1, 1)}[variant]


def stft_kernel(variant: str, n: int) -> torch.Tensor:
  """(2K, 1, kt, kh, kw) float32: tap offset o = y - x holds cos(2 pi v.o / n), sin(2 pi v.o / n)."""
  shape = stft_window(variant, n)
  axes = [torch.arange(s, dtype=torch.float64) - (s - 1) // 2 for s in shape]
  o = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (kt, kh, kw, 3)
  v = torch.tensor(_FREQS[variant], dtype=torch.float64)
  phase = 2 * math.pi * torch.einsum("thwd,kd->kthw", o, v) / n
  w = torch.stack([torch.cos(phase), torch.sin(phase)], dim=1).reshape(-1, 1, *shape)
  return w.float()


def same_pads(size: Sequence[int], kernel: Sequence[int], strides: Sequence[int]) -> list[int]:
  """F.pad list (w_lo, w_hi, h_lo, h_hi, t_lo, t_hi) of XLA's SAME padding."""
  pads = []
  for i, k, s in zip(size, kernel, strides):
    total = max((-(-i // s) - 1) * s + k - i, 0)
    pads.append((total // 2, total - total // 2))
  return [p for lo_hi in reversed(pads) for p in lo_hi]


def max_pool(x: torch.Tensor, window: Sequence[int], strides: Sequence[int]) -> torch.Tensor:
  x = F.pad(x, same_pads(x.shape[2:], window, strides), value=-math.inf)
  return F.max_pool3d(x, tuple(window), tuple(strides))


class ConvBN(nn.Module):
  def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), strides=(1, 1, 1), groups: int = 1):
    super().__init__()
    self.conv = nn.Conv3d(cin, cout, tuple(kernel), stride=tuple(strides), groups=groups, bias=False)
    self.bn = nn.BatchNorm3d(cout, eps=1e-5, momentum=0.1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    c = self.conv
    if any(k > 1 for k in c.kernel_size):
      x = F.pad(x, same_pads(x.shape[2:], c.kernel_size, c.stride))
    return F.leaky_relu(self.bn(c(x)), LEAKY_SLOPE)


class STFTBN(nn.Module):
  """Fixed depthwise (or channel-summed, ReLPV) STFT -> BN -> LeakyReLU; the kernel is no state."""

  def __init__(self, cin: int, variant: str, n: int, depthwise: bool = True):
    super().__init__()
    self.variant, self.n, self.depthwise, self.cin = variant, n, depthwise, cin
    k2 = 2 * len(_FREQS[variant])
    self._kernel = stft_kernel(variant, n)
    self.bn = nn.BatchNorm3d(cin * k2 if depthwise else k2, eps=1e-5, momentum=0.1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    w = self._kernel.to(dtype=x.dtype, device=x.device)
    shape = w.shape[2:]
    x = F.pad(x, [p for s in reversed(shape) for p in ((s - 1) // 2, s // 2)])
    if self.depthwise:
      y = F.conv3d(x, w.repeat(self.cin, 1, 1, 1, 1), groups=self.cin)
    else:
      y = F.conv3d(x, w.expand(-1, self.cin, -1, -1, -1))
    return F.leaky_relu(self.bn(y), LEAKY_SLOPE)


def block_layers(kind: str, c: int, b: int, f: int, n: int) -> list[nn.Module]:
  if kind == "st":
    return [ConvBN(c, b), STFTBN(b, "st", n), ConvBN(26 * b, f)]
  if kind == "s":
    return [ConvBN(c, b), STFTBN(b, "s", n), ConvBN(8 * b, 8 * b, (n, 1, 1), groups=8 * b), ConvBN(8 * b, f)]
  if kind == "t":
    return [ConvBN(c, b), ConvBN(b, b, (1, n, n), groups=b), STFTBN(b, "t", n), ConvBN(2 * b, f)]
  if kind == "fact_dw":
    return [ConvBN(c, b), ConvBN(b, b, (1, n, n), groups=b), ConvBN(b, 2 * b, (n, 1, 1), groups=b),
            ConvBN(2 * b, f)]
  if kind == "relpv":
    return [ConvBN(c, b), STFTBN(b, "st", n, depthwise=False), ConvBN(26, f)]
  if kind == "i3d":
    return [ConvBN(c, b), ConvBN(b, f, (n, n, n))]
  if kind == "s3d":
    return [ConvBN(c, b), ConvBN(b, f, (1, n, n)), ConvBN(f, f, (n, 1, 1))]
  raise ValueError(f"unknown block {kind!r}")


class Block(nn.Module):
  def __init__(self, kind: str, c: int, b: int, f: int, n: int):
    super().__init__()
    self.layers = nn.Sequential(*block_layers(kind, c, b, f, n))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.layers(x)


def bottleneck(multiplier: float, reduce: int) -> int:
  return max(1, int(round(multiplier * reduce)))


class Inception(nn.Module):
  def __init__(self, kind: str, cin: int, widths: Sequence[int], multiplier: float, n: int):
    super().__init__()
    a, r3, c3, r5, c5, pool = widths
    self.branch0 = ConvBN(cin, a)
    self.branch1 = Block(kind, cin, bottleneck(multiplier, r3), c3, n)
    self.branch2 = Block(kind, cin, bottleneck(multiplier, r5), c5, n)
    self.branch3 = ConvBN(cin, pool)
    self.out_features = a + c3 + c5 + pool

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    p = self.branch3(max_pool(x, (3, 3, 3), (1, 1, 1)))
    return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), p], dim=1)


class XSTFT(nn.Module):
  """X-STFT network; arguments are actionjax.models.xstft.settings(config)."""

  def __init__(self, *, block: str, multiplier: float, stem: str, n: int, stem_widths, stem_bottlenecks,
               modules, pool_after, pool_windows, in_channels: int, num_classes: int, dropout: float = 0.0):
    super().__init__()
    self.stem_kind = stem
    s0, s1, s2 = stem_widths
    if stem == "i3d":
      self.stem = nn.ModuleList([ConvBN(in_channels, s0, (7, 7, 7), (2, 2, 2)), ConvBN(s0, s1),
                                 ConvBN(s1, s2, (3, 3, 3))])
    else:
      b0, b1 = (bottleneck(multiplier, r) for r in stem_bottlenecks)
      self.stem = nn.ModuleList([Block(block, in_channels, b0, s1, n), Block(block, s1, b1, s2, n)])
    mods, c = [], s2
    for widths in modules:
      mods.append(Inception(block, c, widths, multiplier, n))
      c = mods[-1].out_features
    self.inception = nn.ModuleList(mods)
    self.pools = dict(zip(pool_after, [tuple(w) for w in pool_windows]))
    self.dropout = nn.Dropout(dropout)
    self.head = nn.Linear(c, num_classes)

  def features(self, x: torch.Tensor) -> torch.Tensor:
    if self.stem_kind == "i3d":
      x = max_pool(self.stem[0](x), (1, 3, 3), (1, 2, 2))
      x = self.stem[2](self.stem[1](x))
    else:
      x = max_pool(self.stem[0](x), (3, 3, 3), (2, 2, 2))
      x = self.stem[1](x)
    x = max_pool(x, (1, 3, 3), (1, 2, 2))
    for i, module in enumerate(self.inception):
      x = module(x)
      if i in self.pools:
        x = max_pool(x, self.pools[i], (2, 2, 2))
    return x.mean(dim=(2, 3, 4))

  def forward(self, inputs: torch.Tensor) -> torch.Tensor:
    """inputs: normalised float (B, T, H, W, C) -> logits (B, num_classes)."""
    x = self.features(inputs.permute(0, 4, 1, 2, 3).contiguous())
    return self.head(self.dropout(x))
