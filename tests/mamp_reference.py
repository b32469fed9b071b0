"""Test helper (not shipped): a minimal PyTorch model written from the facts in
/work/shared/reference/mamp_interop.md (MAMP's evaluation model): input (N, C, T, V, M), MAMP's
state_dict key names. Used to load actionjax's `mamp_state_dict` with strict=True and compare logits."""
from __future__ import annotations

import math

import torch
from torch import nn


class _JointsEmbed(nn.Module):
  def __init__(self, dim_in, dim, t_patch):
    super().__init__()
    self.proj = nn.Conv2d(dim_in, dim, kernel_size=(t_patch, 1), stride=(t_patch, 1))


class _Attn(nn.Module):
  def __init__(self, dim, heads):
    super().__init__()
    self.heads = heads
    self.qkv = nn.Linear(dim, dim * 3, bias=True)
    self.proj = nn.Linear(dim, dim)

  def forward(self, x):
    n, l, c = x.shape
    qkv = self.qkv(x).reshape(n, l, 3, self.heads, c // self.heads)
    q = qkv[:, :, 0].transpose(1, 2)
    k = qkv[:, :, 1].transpose(1, 2)
    v = qkv[:, :, 2].transpose(1, 2)
    a = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
    out = a.softmax(dim=-1) @ v
    return self.proj(out.transpose(1, 2).reshape(n, l, c))


class _Mlp(nn.Module):
  def __init__(self, dim, hidden):
    super().__init__()
    self.fc1 = nn.Linear(dim, hidden)
    self.act = nn.GELU()
    self.fc2 = nn.Linear(hidden, dim)

  def forward(self, x):
    return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
  def __init__(self, dim, heads, mlp_ratio):
    super().__init__()
    self.norm1 = nn.LayerNorm(dim)
    self.attn = _Attn(dim, heads)
    self.norm2 = nn.LayerNorm(dim)
    self.mlp = _Mlp(dim, int(dim * mlp_ratio))

  def forward(self, x):
    x = x + self.attn(self.norm1(x))
    return x + self.mlp(self.norm2(x))


class _Head(nn.Module):
  def __init__(self, protocol, dim, num_joints, num_classes, hidden):
    super().__init__()
    self.protocol = protocol
    if protocol == "linprobe":
      self.fc = nn.Linear(dim, num_classes)
    else:
      self.drop = nn.Dropout(0.3)
      self.fc1 = nn.Linear(num_joints * dim, hidden)
      self.bn = nn.BatchNorm1d(hidden, momentum=0.1)
      self.fc2 = nn.Linear(hidden, num_classes)

  def forward(self, x):  # x: (N, M, T', V, D)
    if self.protocol == "linprobe":
      return self.fc(x.mean(3).mean(2).mean(1))
    n, m, t, v, d = x.shape
    x = self.drop(x).mean(2).flatten(2).mean(1)
    return self.fc2(torch.relu(self.bn(self.fc1(x))))


class MampTransformer(nn.Module):
  def __init__(self, dim_in=3, num_classes=60, dim_feat=256, depth=8, num_heads=8, mlp_ratio=4,
               num_frames=120, num_joints=25, t_patch_size=4, protocol="linprobe", head_hidden=2048):
    super().__init__()
    self.t_patch = t_patch_size
    self.joints_embed = _JointsEmbed(dim_in, dim_feat, t_patch_size)
    self.pos_embed = nn.Parameter(torch.zeros(1, 1, num_joints, dim_feat))
    self.temp_embed = nn.Parameter(torch.zeros(1, num_frames // t_patch_size, 1, dim_feat))
    self.blocks = nn.ModuleList([_Block(dim_feat, num_heads, mlp_ratio) for _ in range(depth)])
    self.norm = nn.LayerNorm(dim_feat)
    self.head = _Head(protocol, dim_feat, num_joints, num_classes, head_hidden)

  def forward(self, x):  # (N, C, T, V, M)
    n, c, t, v, m = x.shape
    x = x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)
    x = self.joints_embed.proj(x)                      # (N M, D, T', V)
    x = x.permute(0, 2, 3, 1) + self.pos_embed + self.temp_embed
    tp = x.shape[1]
    x = x.reshape(n * m, tp * v, -1)
    for blk in self.blocks:
      x = blk(x)
    x = self.norm(x).reshape(n, m, tp, v, -1)
    return self.head(x)
