"""FD-MAE pre-training step throughput on this machine: the jitted JAX train step (forward of both
paths, backward of the online path, AdamW, EMA update of Eq. 1) next to a same-size PyTorch step.

  python benchmarks/fdmae_step.py [--steps 5] [--batch 8] [--no-torch]

Writes benchmarks/results/fdmae_step.json. The PyTorch model below is a same-size re-implementation
for timing only (encoder from actionjax/export/torch_models/fdmae.py, MAMP decoder, SSFRM, the
losses of Eqs. 2-7); its numerics are not checked against JAX.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from actionjax import config as config_lib
from actionjax.models import fdmae, registry
from actionjax.models.fdmae_encoder import ENCODER_KEYS

HERE = os.path.dirname(os.path.abspath(__file__))


def count(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def param_counts() -> dict:
  out = {}
  for v in ("ntu60_xsub_pretrain", "ntu120_xsub_pretrain", "ntu60_xsub_linear", "ntu60_xsub_finetune"):
    c = config_lib.load(os.path.join(HERE, "..", "configs", f"fdmae.py:{v}"))
    m = nnx.eval_shape(lambda: registry.create(c, rngs=nnx.Rngs(0)))
    params = nnx.state(m, nnx.Param)
    out[v] = count(params)
    if v == "ntu60_xsub_pretrain":
      out["encoder"] = sum(count(params[k]) for k in ENCODER_KEYS)
      out["ssfrm"] = count(params["sfr"])
  return out


def jax_runner(config, x: np.ndarray):
  """(run() -> seconds of one train step, compile seconds)."""
  model = registry.create(config, rngs=nnx.Rngs(0))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optax.adamw(1e-3, b1=0.9, b2=0.95, weight_decay=0.05)
  state = (params, jax.tree.map(jnp.copy, params), tx.init(params))  # distinct buffers: donated
  gamma = config.train.ema_decay

  def loss_fn(p, ema_p, key, x):
    m, e = nnx.merge(graphdef, p, rest), nnx.merge(graphdef, ema_p, rest)
    return m(x, train=True, rngs=nnx.Rngs(mask=key), ema=e)["loss"].mean()

  @functools.partial(jax.jit, donate_argnums=0)
  def step(state, key, x):
    p, ema_p, opt = state
    loss, g = jax.value_and_grad(loss_fn)(p, ema_p, key, x)
    updates, opt = tx.update(g, opt, p)
    p = optax.apply_updates(p, updates)
    return (p, fdmae.ema_update(ema_p, p, gamma), opt), loss

  xj = jnp.asarray(x)
  box = {"state": state, "i": 0}
  t0 = time.perf_counter()
  box["state"], loss = step(box["state"], jax.random.key(0), xj)
  loss.block_until_ready()
  compile_s = time.perf_counter() - t0

  def run() -> float:
    box["i"] += 1
    t0 = time.perf_counter()
    box["state"], loss = step(box["state"], jax.random.key(box["i"]), xj)
    loss.block_until_ready()
    return time.perf_counter() - t0
  return run, compile_s


def torch_runner(x: np.ndarray, c):
  """run() -> seconds of one same-size PyTorch train step (after one warm-up step)."""
  import torch
  from torch import nn

  from actionjax.export.torch_models.fdmae import Block, FDMAEClassifier

  m = c.model
  tp, v, ch, t_path = m.t_patch, c.data.num_joints, c.data.channels, c.data.num_frames // 2
  t_tok, dd, w = t_path // tp, m.decoder_dim, m.sfr_dim

  def ct(cin, cout, k, s):
    return nn.ConvTranspose2d(cin, cout, (k, 1), (s, 1), padding=((k - 1) // 2 if s == 1 else 0, 0))

  def conv(cin, cout, k, g=1):
    return nn.Conv2d(cin, cout, (k, 1), padding=(k // 2, 0), groups=g)

  class Branch(nn.Module):
    def __init__(self):
      super().__init__()
      self.net = nn.Sequential(conv(w, w, 3, m.sfr_groups), conv(w, w, 1), nn.GELU(),
                               conv(w, w, 3, m.sfr_groups), conv(w, w, 1), nn.GELU(), ct(w, ch, 3, 1))

    def forward(self, x):
      return self.net(x)

  class Pretrain(nn.Module):
    def __init__(self):
      super().__init__()
      self.enc = FDMAEClassifier(num_classes=1, dim=m.dim, depth=m.depth, num_heads=m.num_heads,
                                 num_frames=t_path, head=None)
      self.decoder_embed = nn.Linear(m.dim, dd)
      self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
      self.dec_pos = nn.Parameter(torch.zeros(1, 1, v, dd))
      self.dec_temp = nn.Parameter(torch.zeros(1, t_tok, 1, dd))
      self.decoder_blocks = nn.ModuleList([Block(dd, m.decoder_heads, 4.0) for _ in range(m.decoder_depth)])
      self.decoder_norm = nn.LayerNorm(dd)
      self.decoder_pred = nn.Linear(dd, tp * ch)
      self.up_low = nn.Sequential(ct(dd, w, tp // 2, tp // 2), nn.GELU(), ct(w, w, 3, 1), nn.GELU())
      self.up_high = nn.Sequential(ct(dd, w, tp, tp), nn.GELU())
      self.low, self.high = Branch(), Branch()

    def path(self, x, keep):
      e = self.enc
      tok = e.joints_embed(x) + e.pos_embed + e.temp_embed
      tok = tok.reshape(tok.shape[0], -1, tok.shape[-1])
      tok = torch.gather(tok, 1, keep[..., None].expand(-1, -1, tok.shape[-1]))
      for blk in e.blocks:
        tok = blk(tok)
      lat = self.decoder_embed(e.norm(tok))
      full = self.mask_token.expand(x.shape[0], t_tok * v, dd).clone()
      full = full.scatter(1, keep[..., None].expand(-1, -1, dd), lat)
      s = (full.reshape(-1, t_tok, v, dd) + self.dec_pos + self.dec_temp).reshape(x.shape[0], -1, dd)
      for blk in self.decoder_blocks:
        s = blk(s)
      s = self.decoder_norm(s).reshape(-1, t_tok, v, dd)
      sc = s.permute(0, 3, 1, 2)
      high = self.high(self.up_high(sc)).permute(0, 2, 3, 1)
      low = self.low(self.up_low(sc)).permute(0, 2, 3, 1)
      return self.decoder_pred(s), high, low

  def targets(x):
    d = torch.cat([x[:, 1:] - x[:, :-1], torch.zeros_like(x[:, :1])], 1)
    tok = d.reshape(d.shape[0], t_tok, tp, v, ch).permute(0, 1, 3, 2, 4).reshape(d.shape[0], t_tok, v, -1)
    tok = (tok - tok.mean(-1, keepdim=True)) / (tok.var(-1, keepdim=True, unbiased=False) + 1e-6).sqrt()
    k = int(round(m.freq_cutoff * t_path))  # DCT-II band split as a matrix product along time
    n = torch.arange(t_path, dtype=torch.float32)
    basis = torch.cos(torch.pi * n[:, None] * (2 * n[None] + 1) / (2 * t_path)) * (2 / t_path) ** 0.5
    basis[0] /= 2 ** 0.5
    low = torch.einsum("kn,km,bmvc->bnvc", basis[:k], basis[:k], d)
    return tok, d - low, low.reshape(low.shape[0], t_path // 2, 2, v, ch).mean(2)

  def loss_fn(model, ema, x, keep, masked):
    tar_x, on_x = x[:, 0::2], x[:, 1::2]
    pred, high, low = model.path(on_x, keep)
    with torch.no_grad():
      tpred, thigh, tlow = ema.path(tar_x, keep)
    tok, fh, fl = targets(on_x)
    tt, tfh, tfl = targets(tar_x)
    mse = lambda a, b: (((a - b) ** 2).mean(-1) * masked).sum() / masked.sum()
    l_m = mse(pred, tok) + mse(tpred, tt)
    l_mc = mse(pred, tpred)
    l_mf = ((high - fh).abs().mean() + (thigh - tfh).abs().mean() + ((low - fl) ** 2).mean()
            + ((tlow - tfl) ** 2).mean())
    return l_m + m.eta1 * l_mc + m.eta2 * l_mf

  torch.manual_seed(0)
  model = Pretrain()
  ema = copy.deepcopy(model).requires_grad_(False)
  opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05)
  b, mm = x.shape[:2]
  xt = torch.from_numpy(x).reshape(b * mm, *x.shape[2:])
  k = int(round(m.mask_ratio * v))

  def step(seed):
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(b * mm, -(-t_tok // m.tube_len), v, generator=g)
    tube = noise.argsort(-1).argsort(-1) < k
    masked = tube.repeat_interleave(m.tube_len, 1)[:, :t_tok].float()
    keep = masked.reshape(b * mm, -1).argsort(dim=-1, stable=True)[:, : t_tok * (v - k)]
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model, ema, xt, keep, masked)
    loss.backward()
    opt.step()
    with torch.no_grad():
      for pe, po in zip(ema.parameters(), model.parameters()):
        pe.mul_(c.train.ema_decay).add_(po, alpha=1 - c.train.ema_decay)
    return float(loss.detach())

  step(0)
  seeds = iter(range(1, 1 << 30))

  def run() -> float:
    t0 = time.perf_counter()
    step(next(seeds))
    return time.perf_counter() - t0
  return run


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--steps", type=int, default=5)
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--no-torch", action="store_true")
  args = ap.parse_args()
  c = config_lib.load(os.path.join(HERE, "..", "configs", "fdmae.py:ntu60_xsub_pretrain"))
  m, d = c.model, c.data
  shape = (args.batch, d.max_persons, d.num_frames, d.num_joints, d.channels)
  x = np.cumsum(np.random.default_rng(0).normal(size=shape) * 0.01, axis=2).astype(np.float32)
  result = {
      "device": f"{jax.devices()[0].platform} x{len(jax.devices())}"
                f" ({platform.processor() or platform.machine()}, {os.cpu_count()} cores visible)",
      "load_average_at_start": os.getloadavg(),
      "config": "ntu60_xsub_pretrain", "batch": args.batch, "persons": d.max_persons,
      "frames_per_path": d.num_frames // 2, "mask_ratio": m.mask_ratio, "steps_timed": args.steps,
      "params": param_counts(),
  }
  run_jax, compile_s = jax_runner(c, x)
  run_torch = None
  if not args.no_torch:
    import torch
    result["torch_threads"] = torch.get_num_threads()
    run_torch = torch_runner(x, c)
  # Alternate the two so that both see the same background load (this machine is shared).
  jax_t, torch_t = [], []
  for _ in range(args.steps):
    jax_t.append(run_jax())
    if run_torch is not None:
      torch_t.append(run_torch())
  jax_s = float(np.median(jax_t))
  result.update(jax_step_s=jax_s, jax_step_times=jax_t, jax_compile_s=compile_s,
                jax_clips_per_s=args.batch / jax_s)
  if run_torch is not None:
    torch_s = float(np.median(torch_t))
    result.update(torch_step_s=torch_s, torch_step_times=torch_t, torch_clips_per_s=args.batch / torch_s,
                  speedup_jax_over_torch=torch_s / jax_s)
  result["load_average_at_end"] = os.getloadavg()
  os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
  with open(os.path.join(HERE, "results", "fdmae_step.json"), "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
