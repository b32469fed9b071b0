"""Pure-PyTorch mirror of actionjax's FD-MAE classifier (imports torch only).

Input layout as in actionjax: (B, M, T, V, C). Module names follow MAMP's evaluation model, so the
state_dict keys are MAMP's (mamp_interop.md) and one key map serves both. `head=None` gives the bare
encoder (for exporting a pre-training checkpoint), returning features (B, M, T_tok, V, D).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):

  def __init__(self, channels: int, dim: int, t_patch: int):
    super().__init__()
    self.proj = nn.Conv2d(channels, dim, kernel_size=(t_patch, 1), stride=(t_patch, 1))

  def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B', T, V, C) -> (B', T_tok, V, D)
    return self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class Attention(nn.Module):

  def __init__(self, dim: int, num_heads: int):
    super().__init__()
    self.num_heads = num_heads
    self.qkv = nn.Linear(dim, 3 * dim)
    self.proj = nn.Linear(dim, dim)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, n, d = x.shape
    q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
    return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):

  def __init__(self, dim: int, hidden: int):
    super().__init__()
    self.fc1 = nn.Linear(dim, hidden)
    self.fc2 = nn.Linear(hidden, dim)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):

  def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
    super().__init__()
    self.norm1 = nn.LayerNorm(dim, eps=1e-5)
    self.attn = Attention(dim, num_heads)
    self.norm2 = nn.LayerNorm(dim, eps=1e-5)
    self.mlp = Mlp(dim, int(dim * mlp_ratio))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = x + self.attn(self.norm1(x))
    return x + self.mlp(self.norm2(x))


class LinearHead(nn.Module):

  def __init__(self, dim: int, num_classes: int):
    super().__init__()
    self.fc = nn.Linear(dim, num_classes)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.fc(x.mean(dim=(1, 2, 3)))


class FinetuneHead(nn.Module):

  def __init__(self, in_dim: int, hidden: int, num_classes: int, dropout: float):
    super().__init__()
    self.dropout = nn.Dropout(dropout)
    self.fc1 = nn.Linear(in_dim, hidden)
    self.bn = nn.BatchNorm1d(hidden, momentum=0.1)
    self.fc2 = nn.Linear(hidden, num_classes)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, m, _, v, d = x.shape
    x = self.dropout(x).mean(dim=2).reshape(b, m, v * d).mean(dim=1)
    return self.fc2(F.relu(self.bn(self.fc1(x))))


class FDMAEClassifier(nn.Module):
  """(B, M, T, V, C) -> logits (B, num_classes), or features when head is None."""

  def __init__(self, *, num_classes: int, channels: int = 3, dim: int = 256, depth: int = 8,
               num_heads: int = 8, mlp_ratio: float = 4.0, num_frames: int = 120, num_joints: int = 25,
               t_patch: int = 4, head: str | None = "linear", head_hidden: int = 2048,
               head_dropout: float = 0.3):
    super().__init__()
    self.t_tok = num_frames // t_patch
    self.joints_embed = PatchEmbed(channels, dim, t_patch)
    self.pos_embed = nn.Parameter(torch.zeros(1, 1, num_joints, dim))
    self.temp_embed = nn.Parameter(torch.zeros(1, self.t_tok, 1, dim))
    self.blocks = nn.ModuleList([Block(dim, num_heads, mlp_ratio) for _ in range(depth)])
    self.norm = nn.LayerNorm(dim, eps=1e-5)
    if head == "linear":
      self.head = LinearHead(dim, num_classes)
    elif head == "finetune":
      self.head = FinetuneHead(num_joints * dim, head_hidden, num_classes, head_dropout)
    else:
      self.head = None

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, m, t, v, c = x.shape
    tok = self.joints_embed(x.reshape(b * m, t, v, c)) + self.pos_embed + self.temp_embed
    tok = tok.reshape(b * m, -1, tok.shape[-1])
    for block in self.blocks:
      tok = block(tok)
    z = self.norm(tok).reshape(b, m, self.t_tok, v, -1)
    return z if self.head is None else self.head(z)
