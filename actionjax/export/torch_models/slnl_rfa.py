"""Pure-PyTorch mirror of actionjax.models.slnl_rfa (SLnL-rFA, Hu et al. 2019).

Imports torch only. Input `(B, M, T, V, C)` as in JAX; inside, NCHW `(B*M, C, T, N)`. Module and
parameter names follow the NNX module paths so the state_dict key map is mechanical. Built from a
plain dict holding the `config.model` keys plus `num_frames`, `num_joints` and `in_channels`
(= config.data.channels).
"""
from __future__ import annotations

import torch
import torch.fft
import torch.nn.functional as F
from torch import nn

_STREAMS = {"posvel": ("pos", "vel"), "pos": ("pos",), "vel": ("vel",)}


def _bn_momentum(flax_momentum: float) -> float:
  return 1.0 - flax_momentum  # flax keeps momentum * old, torch keeps (1 - momentum) * old


class SameConv2d(nn.Conv2d):
  """Conv2d with XLA 'SAME' padding (the extra row / column goes at the end for even kernels)."""

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    kh, kw = self.kernel_size
    if kh % 2 and kw % 2:
      return F.conv2d(x, self.weight, self.bias, padding=(kh // 2, kw // 2))
    ph, pw = kh - 1, kw - 1
    x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    return F.conv2d(x, self.weight, self.bias)


def _pointwise(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
  """A bias-free Linear applied over the channels of NCHW `x` (a 1x1 convolution)."""
  return F.conv2d(x, linear.weight[:, :, None, None])


class Transform(nn.Module):
  def __init__(self, kind: str, d: int, n: int, k: int, n_new: int):
    super().__init__()
    self.kind = kind
    if "coord" in kind:
      self.coord = nn.Parameter(torch.zeros(k * d, d))
    if "skeleton" in kind:
      self.skeleton = nn.Parameter(torch.zeros(n_new, n))
    if kind == "cnn":
      self.conv1 = SameConv2d(d, k * d, (1, 1))
      self.conv2 = SameConv2d(k * d, k * d, (3, 3))
    self.out_channels = k * d if kind in ("coord_skeleton", "coord", "cnn") else d
    self.out_joints = n_new if "skeleton" in kind else n

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if "coord" in self.kind:
      x = torch.einsum("bdtn,kd->bktn", x, self.coord)
    if "skeleton" in self.kind:
      x = torch.einsum("bctn,mn->bctm", x, self.skeleton)
    if self.kind == "cnn":
      x = self.conv2(self.conv1(x))
    return x


class SpectrumGate(nn.Module):
  def __init__(self, size: int, ratio: int, hidden_act: str):
    super().__init__()
    hidden = max(1, size // ratio)
    self.down = nn.Linear(size, hidden)
    self.up = nn.Linear(hidden, size)
    self.hidden_act = hidden_act

  def forward(self, avg: torch.Tensor) -> torch.Tensor:
    b, t, n = avg.shape
    h = self.down(avg.reshape(b, t * n))
    if self.hidden_act == "relu":
      h = F.relu(h)
    return torch.sigmoid(self.up(h)).reshape(b, 1, t, n)


class FrequencyAttention(nn.Module):
  """Eqs. 1-5 and the Table 5 variants on NCHW."""

  def __init__(self, t: int, n: int, variant: str, ratio: int, hidden_act: str):
    super().__init__()
    self.variant = variant
    if variant == "afa":
      self.gate_amp = SpectrumGate(t * n, ratio, hidden_act)
    else:
      self.gate_cos = SpectrumGate(t * n, ratio, hidden_act)
      if variant != "sfa":
        self.gate_sin = SpectrumGate(t * n, ratio, hidden_act)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    xf = x.float()
    y = torch.fft.fft2(xf, dim=(-2, -1))
    if self.variant == "afa":
      amp = torch.sqrt(torch.clamp(y.real ** 2 + y.imag ** 2, min=1e-12))
      return torch.fft.ifft2(amp * self.gate_amp(amp.mean(1)), dim=(-2, -1)).real.to(x.dtype)
    f_cos, f_sin = y.real, y.imag
    gate_sin = self.gate_cos if self.variant == "sfa" else self.gate_sin
    m_cos, m_sin = self.gate_cos(f_cos.mean(1)), gate_sin(f_sin.mean(1))
    out = torch.fft.ifft2(torch.complex(f_cos * m_cos, f_sin * m_sin), dim=(-2, -1)).real
    if self.variant == "rfa":
      out = xf + out
    return out.to(x.dtype)


class NonLocal(nn.Module):
  """Embedded-Gaussian non-local module (Eqs. 6-11) on NCHW `(B, P, T, N)`."""

  def __init__(self, cin: int, cout: int, embed: int, kind: str):
    super().__init__()
    self.kind = kind
    self.phi = nn.Linear(cin, embed, bias=False)
    self.psi = nn.Linear(cin, embed, bias=False)
    self.g = nn.Linear(cin, cout, bias=False)
    self.w = nn.Linear(cout, cout, bias=False)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, _, t, n = x.shape
    q, k, v = _pointwise(x, self.phi), _pointwise(x, self.psi), _pointwise(x, self.g)
    if self.kind == "temporal":
      y = torch.einsum("bnts,bqsn->bqtn", torch.einsum("bltn,blsn->bnts", q, k).softmax(-1), v)
    elif self.kind == "spatial":
      y = torch.einsum("btnm,bqtm->bqtn", torch.einsum("bltn,bltm->btnm", q, k).softmax(-1), v)
    else:
      q, k, v = q.flatten(2), k.flatten(2), v.flatten(2)
      y = torch.einsum("bij,bqj->bqi", torch.einsum("bli,blj->bij", q, k).softmax(-1), v)
      y = y.reshape(b, -1, t, n)
    return _pointwise(y, self.w)


class Block(nn.Module):
  """Local block (Fig. 3b) / SLnL block (Fig. 3c)."""

  def __init__(self, cin: int, cout: int, k: int, kinds: tuple[str, ...], layout: str,
               embed_ratio: float, bn_momentum: float):
    super().__init__()
    self.layout = layout
    s_in = cin if layout == "parallel_ts" else cout
    self.t_local = SameConv2d(cin, cout, (k, 1))
    self.s_local = SameConv2d(s_in, cout, (1, k))
    self.st_local = SameConv2d(cout, cout, (k, k))
    embed = max(1, int(cout * embed_ratio))
    nl = lambda kind, p: NonLocal(p, cout, embed, kind) if kind in kinds else None
    self.t_nonlocal = nl("temporal", cin)
    self.s_nonlocal = nl("spatial", s_in)
    self.st_nonlocal = nl("spatiotemporal", cout)
    self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=_bn_momentum(bn_momentum))
    self.shortcut = SameConv2d(cin, cout, (1, 1)) if cin != cout else None

  @staticmethod
  def _branch(local, nonlocal_, x):
    y = local(x)
    return y if nonlocal_ is None else y + nonlocal_(x)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self._branch(self.t_local, self.t_nonlocal, x)
    if self.layout == "parallel_ts":
      h = h + self._branch(self.s_local, self.s_nonlocal, x)
    else:
      h = self._branch(self.s_local, self.s_nonlocal, h)
    h = self._branch(self.st_local, self.st_nonlocal, h)
    res = x if self.shortcut is None else self.shortcut(x)
    return F.relu(self.bn(h) + res)


class Stream(nn.Module):
  def __init__(self, cfg: dict):
    super().__init__()
    v, c = cfg["num_joints"], cfg["in_channels"]
    mom = _bn_momentum(cfg["bn_momentum"])
    self.input_bn = nn.BatchNorm1d(v * c, eps=1e-5, momentum=mom) if cfg["input_bn"] else None
    self.transform = Transform(cfg["transform"], c, v, cfg["num_coords"], cfg["num_new_joints"])
    cin, n = self.transform.out_channels, self.transform.out_joints
    fa = cfg["frequency_attention"]
    self.fa = None if fa == "none" else FrequencyAttention(
        cfg["num_frames"], n, fa, cfg["fa_ratio"], cfg["fa_hidden_act"])
    blocks = []
    for i, (cout, k) in enumerate(zip(cfg["channels"], cfg["kernel_sizes"])):
      kinds = tuple(cfg["nonlocal_kinds"]) if i < cfg["num_slnl_blocks"] else ()
      blocks.append(Block(cin, cout, k, kinds, cfg["block_layout"], cfg["nonlocal_ratio"], cfg["bn_momentum"]))
      cin = cout
    self.blocks = nn.ModuleList(blocks)
    self.pool_every, self.p_drop = cfg["pool_every"], cfg["dropout"]
    self.out_features = cin

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, t, v, c = x.shape
    if self.input_bn is not None:
      x = self.input_bn(x.reshape(b, t, v * c).transpose(1, 2)).transpose(1, 2).reshape(b, t, v, c)
    x = self.transform(x.permute(0, 3, 1, 2))
    if self.fa is not None:
      x = self.fa(x)
    for i, block in enumerate(self.blocks):
      x = F.dropout(block(x), self.p_drop, self.training)
      if self.pool_every and (i + 1) % self.pool_every == 0 and i + 1 < len(self.blocks):
        x = F.max_pool2d(x, 2)
    return x.mean(dim=(2, 3))


class SLnLRFA(nn.Module):
  """Returns {"logits", "aux_logits"} like the JAX model; eval() for inference."""

  def __init__(self, cfg: dict):
    super().__init__()
    self.stream_names = _STREAMS[cfg["streams"]]
    self.person_pool = cfg["person_pool"]
    self.streams = nn.ModuleList([Stream(cfg) for _ in self.stream_names])
    f = self.streams[0].out_features
    heads = [nn.Linear(f, cfg["num_classes"]) for _ in self.stream_names]
    if len(self.stream_names) == 2:
      heads.append(nn.Linear(2 * f, cfg["num_classes"]))
    self.heads = nn.ModuleList(heads)

  def forward(self, inputs: torch.Tensor) -> dict:
    b, m, t, v, c = inputs.shape
    feats = []
    for name, stream in zip(self.stream_names, self.streams):
      x = inputs
      if name == "vel":
        x = torch.cat([inputs[:, :, 1:] - inputs[:, :, :-1], torch.zeros_like(inputs[:, :, :1])], dim=2)
      f = stream(x.reshape(b * m, t, v, c)).reshape(b, m, -1)
      feats.append(f.amax(1) if self.person_pool == "max" else f.mean(1))
    logits = [head(f) for head, f in zip(self.heads, feats)]
    if len(feats) == 1:
      return {"logits": logits[0]}
    return {"logits": self.heads[2](torch.cat(feats, dim=-1)), "aux_logits": (logits[0], logits[1])}
