"""Pure-PyTorch mirror of actionjax.models.fgstformer (FG-STFormer, Gao et al., ACCV 2022).

Imports only torch. Same input layout (B, M, T, V, C) and channels-last internals as the JAX
model; module attribute names follow the NNX attribute paths so the key map is mechanical
(`kernel` -> `weight`, BatchNorm `scale/mean/var` -> `weight/running_mean/running_var`).
Built from plain arguments: `FGSTFormer(**kwargs)`, see `FGSTFormer.__init__`.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_table(length: int, dim: int, base: float = 10000.0) -> torch.Tensor:
  """(length, dim) sine/cosine table, computed in float64 as the JAX side does."""
  pos = torch.arange(length, dtype=torch.float64)[:, None]
  freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
  table = torch.zeros(length, dim, dtype=torch.float64)
  table[:, 0::2] = torch.sin(pos * freq)
  table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
  return table.float()


class BatchNormLast(nn.Module):
  """BatchNorm over every axis but the last (channels-last), torch momentum 0.1, eps 1e-5.

  Train mode updates the running variance with torch's unbiased estimate (flax: biased).
  """

  def __init__(self, features: int):
    super().__init__()
    self.weight = nn.Parameter(torch.ones(features))
    self.bias = nn.Parameter(torch.zeros(features))
    self.register_buffer("running_mean", torch.zeros(features))
    self.register_buffer("running_var", torch.ones(features))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    y = F.batch_norm(x.reshape(-1, x.shape[-1]), self.running_mean, self.running_var, self.weight,
                     self.bias, self.training, 0.1, 1e-5)
    return y.reshape(x.shape)


class Norm(nn.Module):
  def __init__(self, features: int, kind: str):
    super().__init__()
    self.bn = BatchNormLast(features) if kind == "batch" else None

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return x if self.bn is None else self.bn(x)


class TemporalConv(nn.Module):
  """k x 1 conv over T of (N, T, V, C) with symmetric explicit padding (k-1)*d//2."""

  def __init__(self, cin: int, cout: int, k: int, dilation: int, stride: int):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(cout, cin, k, 1) / math.sqrt(cin * k))
    self.bias = nn.Parameter(torch.zeros(cout))
    self.stride, self.dilation, self.padding = stride, dilation, (k - 1) * dilation // 2

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    y = F.conv2d(x.permute(0, 3, 1, 2), self.weight, self.bias, stride=(self.stride, 1),
                 padding=(self.padding, 0), dilation=(self.dilation, 1))
    return y.permute(0, 2, 3, 1)


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
  """q (..., Lq, H, D), k (..., Lk, H, D) -> softmax(QK^T/sqrt(D)) (..., H, Lq, Lk)."""
  logits = torch.einsum("...qhd,...khd->...hqk", q, k) / math.sqrt(q.shape[-1])
  return torch.softmax(logits.float(), dim=-1).to(q.dtype)


class MultiHeadAttention(nn.Module):
  def __init__(self, cq: int, ckv: int, cout: int, heads: int, qk: int, global_map=None):
    super().__init__()
    self.heads, self.qk_features = heads, qk
    self.q = nn.Linear(cq, heads * qk)
    self.k = nn.Linear(ckv, heads * qk)
    self.out = nn.Linear(heads * ckv, cout)
    self.global_map = None if global_map is None else nn.Parameter(
        torch.full((heads, *global_map), 1.0 / global_map[1]))

  def forward(self, xq, xk, values=None):
    values = xk if values is None else values
    q = self.q(xq).reshape(*xq.shape[:-1], self.heads, self.qk_features)
    k = self.k(xk).reshape(*xk.shape[:-1], self.heads, self.qk_features)
    a = attention_weights(q, k)
    if self.global_map is not None:
      a = a + self.global_map
    z = torch.einsum("...hqk,...kc->...qhc", a, values)
    return self.out(z.reshape(*z.shape[:-2], -1))


class SFormer(nn.Module):
  def __init__(self, c: int, heads: int, qk: int, positions: int, global_map, norm: str,
               slope: float):
    super().__init__()
    self.positions, self.slope = positions, slope
    self.attn = MultiHeadAttention(c, c, c, heads, qk,
                                   None if global_map is None else (global_map, global_map))
    self.norm1 = Norm(c, norm)
    self.ffn = nn.Linear(c, c)
    self.norm2 = Norm(c, norm)

  def forward(self, x, context=None, ids=None):
    if context is None:
      pe = sinusoidal_table(self.positions, x.shape[-1]).to(x.dtype)
      pe = pe[: x.shape[-2]] if ids is None else pe[ids]
      z = self.attn(x + pe, x + pe, values=x)
    else:
      z = self.attn(x, context)
    h = F.leaky_relu(self.norm1(z), self.slope) + x
    return F.leaky_relu(self.norm2(self.ffn(h)), self.slope) + h


class TFormer(nn.Module):
  def __init__(self, cin: int, cout: int, heads: int, k: int, dilations: Sequence[int],
               stride: int, mode: str, norm: str, slope: float):
    super().__init__()
    self.mode, self.stride, self.slope, self.heads = mode, stride, slope, heads
    hd = cout // heads
    if mode != "tcn":
      self.q = nn.Linear(cin, heads * hd)
      self.k = nn.Linear(cin, heads * hd)
      self.w_h = nn.ModuleList([nn.Linear(hd, hd) for _ in range(heads)])
    if mode == "basic":
      self.v = nn.ModuleList([nn.Linear(cin, hd) for _ in range(heads)])
    else:
      self.tcn = nn.ModuleList([TemporalConv(cin, hd, k, d, stride) for d in dilations])
      self.tcn_norm = nn.ModuleList([Norm(hd, norm) for _ in range(heads)])
    self.w_o = nn.Linear(cout, cout)
    self.norm = Norm(cout, norm)
    project = stride > 1 or cin != cout
    self.down = nn.Linear(cin, cout) if project else None
    self.down_norm = Norm(cout, norm) if project else None

  def forward(self, x):
    n, t, v, c = x.shape
    xs = x[:, :: self.stride]
    if self.mode != "tcn":
      pe = sinusoidal_table(t, c).to(x.dtype)
      y = (x + pe[:, None, :])[:, :: self.stride].transpose(1, 2)
      q = self.q(y).reshape(*y.shape[:-1], self.heads, -1)
      k = self.k(y).reshape(*y.shape[:-1], self.heads, -1)
      a = attention_weights(q, k)  # (N, V, H, T', T')
    heads = []
    for h in range(self.heads):
      val = self.v[h](xs) if self.mode == "basic" else self.tcn_norm[h](self.tcn[h](x))
      if self.mode == "tcn":
        heads.append(val)
        continue
      o = self.w_h[h](torch.einsum("nvqk,nkvc->nqvc", a[:, :, h], val))
      heads.append(o + val if self.mode == "fg" else o)
    out = F.leaky_relu(self.norm(self.w_o(torch.cat(heads, -1))), self.slope)
    return out + (x if self.down is None else self.down_norm(self.down(xs)))


class Stage1Layer(nn.Module):
  def __init__(self, sformer: SFormer, tformer: TFormer):
    super().__init__()
    self.sformer, self.tformer = sformer, tformer

  def forward(self, x):
    return self.tformer(self.sformer(x))


class Stage2Layer(nn.Module):
  def __init__(self, joint_s, joint_t, part_s=None, part_t=None, part_to_joint=None,
               joint_to_part=None):
    super().__init__()
    self.joint_s, self.joint_t, self.part_s, self.part_t = joint_s, joint_t, part_s, part_t
    self.part_to_joint, self.joint_to_part = part_to_joint, joint_to_part

  def forward(self, xj, xp, ids):
    xj = self.joint_s(xj, ids=ids)
    if self.part_s is None:
      return self.joint_t(xj), None
    xp = self.part_s(xp)
    if self.part_to_joint is not None:
      xj, xp = self.part_to_joint(xj, context=xp), self.joint_to_part(xp, context=xj)
    return self.joint_t(xj), self.part_t(xp)


class FGSTFormer(nn.Module):
  """FG-STFormer; forward((B, M, T, V, C)) -> logits (B, num_classes). Arguments mirror
  `config.model` plus `num_joints`, `in_channels` and `parts` (tuple of 0-based joint tuples)."""

  def __init__(self, *, num_classes: int, num_joints: int = 25, in_channels: int = 3,
               channels: Sequence[int] = (64, 64, 128, 128, 256, 256, 256, 256),
               depths: Sequence[int] = (6, 2), spatial_heads: int = 3,
               spatial_qk_features: int | Sequence[int] = (16,), temporal_heads: int = 2,
               temporal_kernel: int = 7, temporal_dilations: Sequence[int] = (1, 2),
               temporal: str = "fg", focal: bool = True, num_focal: int = 15,
               part_branch: bool = True, jpca: bool = True, parts: Sequence[Sequence[int]] = (),
               norm: str = "batch", leaky_slope: float = 0.1, hidden: int = 256,
               dropout: float = 0.0, person_pool: str = "mean", **unused):
    super().__init__()
    widths = tuple(channels)
    l1, l2 = depths
    v = num_joints
    self.strides = tuple(2 if i and c > widths[i - 1] else 1 for i, c in enumerate(widths))
    self.slope, self.person_pool, self.l1 = leaky_slope, person_pool, l1
    self.focal = focal and l2 > 0
    self.num_focal = num_focal if self.focal else v
    qk = ((spatial_qk_features,) if isinstance(spatial_qk_features, int)
          else tuple(spatial_qk_features))  # one for all layers, or one per layer
    qk = qk * len(widths) if len(qk) == 1 else qk
    sf = lambda c, pos, g, i: SFormer(c, spatial_heads, qk[i], pos, g, norm, leaky_slope)
    tf = lambda cin, cout, s: TFormer(cin, cout, temporal_heads, temporal_kernel,
                                      temporal_dilations, s, temporal, norm, leaky_slope)
    self.embed = nn.Linear(in_channels, widths[0])
    ins = (widths[0],) + widths[:-1]
    self.stage1 = nn.ModuleList([
        Stage1Layer(sf(ins[i], v, v, i), tf(ins[i], widths[i], self.strides[i]))
        for i in range(l1)])
    c2 = ins[l1] if l2 else widths[-1]
    self.w_p = nn.Parameter(torch.randn(c2)) if self.focal else None
    self.parts = tuple(tuple(p) for p in parts) if part_branch and l2 else None
    self.part_embed = (nn.Linear(max(len(p) for p in self.parts) * c2, c2)
                       if self.parts is not None else None)
    p = len(self.parts) if self.parts else 0
    layers = []
    for i in range(l1, l1 + l2):
      pb, ca = self.parts is not None, self.parts is not None and jpca
      layers.append(Stage2Layer(
          sf(ins[i], v, self.num_focal, i), tf(ins[i], widths[i], self.strides[i]),
          sf(ins[i], p, p, i) if pb else None,
          tf(ins[i], widths[i], self.strides[i]) if pb else None,
          sf(ins[i], 0, None, i) if ca else None, sf(ins[i], 0, None, i) if ca else None))
    self.stage2 = nn.ModuleList(layers)
    feat = widths[-1] * (2 if self.parts is not None else 1)
    self.fc1 = nn.Linear(feat, hidden)
    self.dropout = nn.Dropout(dropout) if dropout > 0 else None
    self.fc2 = nn.Linear(hidden, num_classes)

  def embed_parts(self, x: torch.Tensor) -> torch.Tensor:
    n, t, v, c = x.shape
    size = max(len(p) for p in self.parts)
    index = torch.tensor([list(p) + [v] * (size - len(p)) for p in self.parts])
    xz = torch.cat([x, x.new_zeros(n, t, 1, c)], dim=2)
    return self.part_embed(xz[:, :, index].reshape(n, t, len(self.parts), size * c))

  def forward(self, inputs: torch.Tensor) -> torch.Tensor:
    b, m, t, v, c = inputs.shape
    x = self.embed(inputs.reshape(b * m, t, v, c))
    for layer in self.stage1:
      x = layer(x)
    x2, ids, xp = x, None, None
    if self.focal:
      logits = (x @ self.w_p) / torch.linalg.norm(self.w_p)
      ids = torch.topk(logits, self.num_focal, dim=-1).indices  # by logit: no float32 ties at 1.0
      vals = torch.gather(torch.sigmoid(logits), -1, ids)
      x = torch.gather(x, 2, ids[..., None].expand(-1, -1, -1, x.shape[-1])) * vals[..., None]
    if self.parts is not None:
      xp = self.embed_parts(x2)
    for i, layer in enumerate(self.stage2):
      x, xp = layer(x, xp, ids)
      if ids is not None:
        ids = ids[:, :: self.strides[self.l1 + i]]
    pooled = x.mean(dim=(1, 2))
    if xp is not None:
      pooled = torch.cat([pooled, xp.mean(dim=(1, 2))], dim=-1)
    pooled = pooled.reshape(b, m, -1)
    if self.person_pool == "masked_mean":
      present = (inputs != 0).flatten(2).any(-1).to(pooled.dtype)[..., None]
      pooled = (pooled * present).sum(1) / present.sum(1).clamp(min=1)
    else:
      pooled = pooled.mean(1)
    h = F.leaky_relu(self.fc1(pooled), self.slope)
    if self.dropout is not None:
      h = self.dropout(h)
    return self.fc2(h)
