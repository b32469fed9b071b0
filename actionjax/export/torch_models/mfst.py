"""Pure-PyTorch mirror of actionjax.models.mfst (MFST, Ma et al.).

Imports only torch. Input (B, T, H, W, C) as the JAX model (RGB channels first, then depth);
convolutions run channels-first inside, transformers channels-last. Module attribute names follow
the NNX paths (`kernel` -> `weight`, BatchNorm `scale/mean/var` -> `weight/running_mean/
running_var`, LayerNorm `scale` -> `weight`), so the key map is mechanical.
Build: `MFST(modalities=('rgb',), num_classes=60, **model_keys)`, the keys of `config.model`.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from actionjax.export.torch_models.fgstformer import sinusoidal_table
from actionjax.export.torch_models.xstft import max_pool as max_pool3d, same_pads


def fold_kernel(w: torch.Tensor, theta: float, variant: str) -> torch.Tensor:
  """CDC as one kernel (O, I, kt, kh, kw): centre tap -= theta * sum over Z ('st') or T'' ('t')."""
  ct, ch, cw = [(k - 1) // 2 for k in w.shape[2:]]
  diff = w.sum(dim=(2, 3, 4))
  if variant == "t":
    diff = diff - w[:, :, ct].sum(dim=(2, 3))
  w = w.clone()
  w[:, :, ct, ch, cw] = w[:, :, ct, ch, cw] - theta * diff
  return w


class BatchNorm(nn.Module):
  def __init__(self, features: int, momentum: float, eps: float):
    super().__init__()
    self.weight = nn.Parameter(torch.ones(features))
    self.bias = nn.Parameter(torch.zeros(features))
    self.register_buffer("running_mean", torch.zeros(features))
    self.register_buffer("running_var", torch.ones(features))
    self.momentum, self.eps = 1.0 - momentum, eps  # flax momentum 0.99 = torch 0.01

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                        self.training, self.momentum, self.eps)


class Unit3D(nn.Module):
  def __init__(self, cin, cout, kernel, *, strides=(1, 1, 1), cdc=None, theta=0.0, bn_momentum, bn_eps):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(cout, cin, *kernel) / math.sqrt(cin * math.prod(kernel)))
    self.bn = BatchNorm(cout, bn_momentum, bn_eps)
    self.kernel, self.strides, self.cdc, self.theta = tuple(kernel), tuple(strides), cdc, float(theta)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    w = self.weight
    if self.cdc is not None and self.theta:
      w = fold_kernel(w, self.theta, self.cdc)
    x = F.pad(x, same_pads(x.shape[2:], self.kernel, self.strides))
    return F.relu(self.bn(F.conv3d(x, w, stride=self.strides)))


class Inception(nn.Module):
  def __init__(self, cin, widths, *, spatial_kernel, pool, **bn):
    super().__init__()
    a, r3, c3, r5, c5, pp = widths
    k = (1, spatial_kernel, spatial_kernel)
    self.b0 = Unit3D(cin, a, (1, 1, 1), **bn)
    self.b1a = Unit3D(cin, r3, (1, 1, 1), **bn)
    self.b1b = Unit3D(r3, c3, k, **bn)
    self.b2a = Unit3D(cin, r5, (1, 1, 1), **bn)
    self.b2b = Unit3D(r5, c5, k, **bn)
    self.b3 = Unit3D(cin, pp, (1, 1, 1), **bn)
    self.pool = tuple(pool)
    self.out_features = a + c3 + c5 + pp

  def forward(self, x):
    return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                      self.b3(max_pool3d(x, self.pool, (1, 1, 1)))], dim=1)


def resolve_topk(topk, n: int) -> int:
  if not topk:
    return n
  if isinstance(topk, float) and topk <= 1.0:
    return max(1, int(topk * n))
  return min(int(topk), n)


class KNNSelfAttention(nn.Module):
  """Top-k scores per head and query kept (ties at the k-th score all kept), the rest -inf."""

  def __init__(self, dim, num_heads, topk, qkv_bias):
    super().__init__()
    self.num_heads, self.topk = num_heads, topk
    self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
    self.proj = nn.Linear(dim, dim)

  def forward(self, x):
    h = self.num_heads
    qkv = self.qkv(x).reshape(*x.shape[:-1], 3, h, x.shape[-1] // h)
    q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
    logits = torch.einsum("...qhd,...khd->...hqk", q, k) / math.sqrt(q.shape[-1])
    n = logits.shape[-1]
    kk = resolve_topk(self.topk, n)
    if kk < n:
      kth = torch.topk(logits, kk, dim=-1).values[..., -1:]
      logits = logits.masked_fill(logits < kth, -math.inf)
    a = torch.softmax(logits, dim=-1)
    z = torch.einsum("...hqk,...khd->...qhd", a, v)
    return self.proj(z.reshape(*x.shape))


class Block(nn.Module):
  def __init__(self, dim, *, num_heads, topk, mlp_ratio, qkv_bias, ln_eps):
    super().__init__()
    hidden = int(dim * mlp_ratio)
    self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
    self.attn = KNNSelfAttention(dim, num_heads, topk, qkv_bias)
    self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
    self.fc1 = nn.Linear(dim, hidden)
    self.fc2 = nn.Linear(hidden, dim)

  def forward(self, x):
    x = x + self.attn(self.norm1(x))
    return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Transformer(nn.Module):
  def __init__(self, dim, depth, **kw):
    super().__init__()
    self.blocks = nn.ModuleList([Block(dim, **kw) for _ in range(depth)])

  def forward(self, x):
    for b in self.blocks:
      x = b(x)
    return x


class Stage(nn.Module):
  def __init__(self, cin, modules, pool, dim, m, bn):
    super().__init__()
    mods = []
    for widths in modules:
      mods.append(Inception(cin, widths, spatial_kernel=m["spatial_kernel"], pool=m["inception_pool"], **bn))
      cin = mods[-1].out_features
    self.inception = nn.ModuleList(mods)
    self.out_features, self.pool = cin, int(pool)
    self.proj_in = nn.Linear(cin, dim)
    kw = dict(num_heads=m["num_heads"], mlp_ratio=m["mlp_ratio"], qkv_bias=m["qkv_bias"], ln_eps=m["ln_eps"])
    self.spatial = Transformer(dim, m["spatial_layers"], topk=m["spatial_knn"], **kw)
    self.scales = tuple(int(s) for s in m["temporal_scales"]) if m["temporal_block"] != "vanilla" else (1,)
    n_temporal = len(self.scales) if m["temporal_block"] == "unshared" else 1
    self.temporal = nn.ModuleList([Transformer(dim, m["temporal_layers"], topk=m["temporal_knn"], **kw)
                                   for _ in range(n_temporal)])
    self.proj_out = nn.Linear(dim, cin)
    self.residual, self.tokens = bool(m["residual"]), m["temporal_tokens"]
    self.downsample, self.fuse = m["temporal_downsample"], m["temporal_fuse"]

  def wms(self, z):
    n, t, d = z.shape
    outs = []
    for i, s in enumerate(self.scales):
      zs = z.reshape(n, t // s, s, d).mean(2) if self.downsample == "avg" else z[:, ::s]
      zs = zs + sinusoidal_table(t // s, d).to(zs.dtype)
      ys = self.temporal[i if len(self.temporal) > 1 else 0](zs)
      outs.append(ys.repeat_interleave(s, dim=1) if s > 1 else ys)
    if len(outs) == 1:
      return outs[0]
    st = torch.stack(outs)
    return {"mean": lambda: st.mean(0), "max": lambda: st.amax(0), "sum": lambda: st.sum(0)}[self.fuse]()

  def forward(self, x):  # (B, C, T, H, W) -> (B, C', T, H', W')
    for m in self.inception:
      x = m(x)
    if self.pool:
      x = max_pool3d(x, (1, self.pool, self.pool), (1, 2, 2))
    x = x.permute(0, 2, 3, 4, 1)
    b, t, h, w, _ = x.shape
    z = self.proj_in(x)
    d = z.shape[-1]
    z = self.spatial(z.reshape(b * t, h * w, d)).reshape(b, t, h, w, d)
    if self.tokens == "position":
      zt = self.wms(z.permute(0, 2, 3, 1, 4).reshape(b * h * w, t, d))
      z = zt.reshape(b, h, w, t, d).permute(0, 3, 1, 2, 4)
    else:
      pooled = z.mean(dim=(2, 3))
      z = z + (self.wms(pooled) - pooled)[:, :, None, None, :]
    y = self.proj_out(z)
    y = x + y if self.residual else y
    return y.permute(0, 4, 1, 2, 3)


class Stream(nn.Module):
  def __init__(self, cin, stem_cdc, m):
    super().__init__()
    bn = dict(bn_momentum=m["bn_momentum"], bn_eps=m["bn_eps"])
    w1, w2, w3 = m["stem_widths"]
    cdc = dict(cdc=stem_cdc, theta=m["theta"] if stem_cdc else 0.0)
    self.conv1 = Unit3D(cin, w1, m["stem_kernel1"], strides=(1, 2, 2), **cdc, **bn)
    self.conv2 = Unit3D(w1, w2, (1, 1, 1), **bn)
    self.conv3 = Unit3D(w2, w3, m["stem_kernel3"], **cdc, **bn)
    stages, c = [], w3
    for i in range(m["num_stages"]):
      stages.append(Stage(c, m["inception"][i], m["stage_pool"][i], m["dims"][i], m, bn))
      c = stages[-1].out_features
    self.stages = nn.ModuleList(stages)
    self.out_features = c

  def forward(self, x):  # (B, T, H, W, C)
    x = x.permute(0, 4, 1, 2, 3)
    x = max_pool3d(self.conv1(x), (1, 3, 3), (1, 2, 2))
    x = max_pool3d(self.conv3(self.conv2(x)), (1, 3, 3), (1, 2, 2))
    for s in self.stages:
      x = s(x)
    return x.mean(dim=(2, 3, 4))


class Head(nn.Module):
  def __init__(self, cin, num_classes, m):
    super().__init__()
    self.norm = nn.LayerNorm(cin, eps=m["ln_eps"])
    self.hidden = nn.Linear(cin, m["head_hidden"]) if m["head_hidden"] else None
    self.dropout = nn.Dropout(m["dropout"])
    self.fc = nn.Linear(m["head_hidden"] or cin, num_classes)

  def forward(self, x):
    x = self.norm(x)
    if self.hidden is not None:
      x = F.gelu(self.hidden(x))
    return self.fc(self.dropout(x))


_STEM = {"cdc_st": "st", "cdc_t": "t", "vanilla": None}


def stem_variant(stem: str, modality: str):
  if stem == "auto":
    return "st" if modality == "rgb" else "t"
  return _STEM[stem]


class MFST(nn.Module):
  """Returns the (fused) logits (B, num_classes)."""

  def __init__(self, modalities: Sequence[str], num_classes: int, **m):
    super().__init__()
    self.modalities = tuple(modalities)
    self.rgb = Stream(3, stem_variant(m["stem"], "rgb"), m) if "rgb" in self.modalities else None
    self.depth = Stream(1, stem_variant(m["stem"], "depth"), m) if "depth" in self.modalities else None
    self.rgb_head = Head(self.rgb.out_features, num_classes, m) if self.rgb is not None else None
    self.depth_head = Head(self.depth.out_features, num_classes, m) if self.depth is not None else None
    self.fusion_weights = tuple(float(w) for w in m["fusion_weights"])

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    logits = []
    if self.rgb is not None:
      logits.append(self.rgb_head(self.rgb(x[..., :3])))
    if self.depth is not None:
      logits.append(self.depth_head(self.depth(x[..., -1:])))
    if len(logits) == 1:
      return logits[0]
    return self.fusion_weights[0] * logits[0] + self.fusion_weights[1] * logits[1]
