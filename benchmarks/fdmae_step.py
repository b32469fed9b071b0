"""FD-MAE pre-training step throughput on this machine: the jitted JAX train step (forward of both
paths, backward of the online path, AdamW, EMA update of Eq. 1) next to a same-size PyTorch step.

  python benchmarks/fdmae_step.py [--steps 5] [--batch 8] [--no-torch] [--default-malloc] [--floor]

Writes benchmarks/results/fdmae_step.json (fdmae_step_default_malloc.json with --default-malloc).
The PyTorch model below is a same-size re-implementation for timing only (the mirror's encoder
blocks from actionjax/export/torch_models/fdmae.py, with fused scaled_dot_product_attention; MAMP's
decoder; SSFRM; the losses of Eqs. 2-7); its numerics are not checked against JAX.

Also recorded, to read the ratio against: the FLOPs one step needs (XLA's count of the step with
batched attention, so that no loop hides FLOPs from it), each side's achieved FLOP/s, page faults
and kernel time per step, and the best fp32 GEMM rate JAX and PyTorch reach on this machine in the
same run. FLOPs / best GEMM rate is the time the step would take if every FLOP ran as fast as a
large square matrix product. With --floor, both workers also time the blocks' matrix products and
attention cores alone (fdmae_floor.py): the step can be no faster than their sum.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from actionjax import config as config_lib
from actionjax import host_memory
from actionjax.models import fdmae, registry
from actionjax.models.fdmae_encoder import ENCODER_KEYS

import fdmae_floor  # this script's folder is on sys.path

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


def measured(fn) -> dict:
  """Wall seconds, minor page faults and kernel seconds of one call of fn()."""
  r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
  fn()
  wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
  return {"s": wall, "faults": r1.ru_minflt - r0.ru_minflt, "sys_s": r1.ru_stime - r0.ru_stime}


def summary(runs: list[dict], flop: float, batch: int) -> dict:
  s = float(np.median([r["s"] for r in runs]))
  return {"step_s": s, "step_times": [r["s"] for r in runs], "clips_per_s": batch / s,
          "gflop_per_s": flop / s / 1e9,
          "minor_faults_per_step": float(np.median([r["faults"] for r in runs])),
          "kernel_s_per_step": float(np.median([r["sys_s"] for r in runs]))}


def gemm_gflops(kind: str, n: int = 2048, repeats: int = 5) -> float:
  """Best fp32 (n x n) @ (n x n) rate of JAX or PyTorch on this machine, GFLOP/s."""
  if kind == "jax":
    a = jnp.ones((n, n), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    fn = lambda: mm(a).block_until_ready()
  else:
    import torch
    t = torch.ones(n, n)
    fn = lambda: t @ t
  return 2 * n ** 3 / fdmae_floor.best_seconds(fn, repeats) / 1e9


def jax_runner(config, x: np.ndarray):
  """(run() -> measured() of one train step, compile seconds, FLOPs of one step)."""
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
  # XLA's FLOP count reads a loop body once, so count the step with batched attention.
  batched = config.copy_and_resolve_references()
  batched.model.attention = "batched"
  g_b, p_b, r_b = nnx.split(registry.create(batched, rngs=nnx.Rngs(0)), nnx.Param, ...)
  flop = jax.jit(lambda p, e, key, x: jax.value_and_grad(
      lambda p: nnx.merge(g_b, p, r_b)(x, train=True, rngs=nnx.Rngs(mask=key),
                                        ema=nnx.merge(g_b, e, r_b))["loss"].mean())(p)).lower(
      p_b, p_b, jax.random.key(0), xj).cost_analysis()["flops"]
  box = {"state": state, "i": 0}

  def one() -> None:
    box["i"] += 1
    box["state"], loss = step(box["state"], jax.random.key(box["i"]), xj)
    loss.block_until_ready()

  compile_s = measured(one)["s"]
  return lambda: measured(one), compile_s, flop


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
  return lambda: measured(lambda: step(next(seeds)))


def worker(kind: str, args) -> None:
  """One framework in its own process (its own allocator state and thread pools), driven over
  stdin/stdout by main(): 'step' -> one timed train step, 'gemm' -> GEMM rate, 'quit'."""
  kept = False if args.default_malloc else host_memory.keep_freed_memory()  # before JAX starts threads
  c = pretrain_config()
  d = c.data
  x = np.cumsum(np.random.default_rng(0).normal(size=(args.batch, d.max_persons, d.num_frames, d.num_joints,
                                                      d.channels)) * 0.01, axis=2).astype(np.float32)
  info = {"host_memory_kept": kept}
  if kind == "jax":
    run, info["compile_s"], info["step_flop"] = jax_runner(c, x)
    info["params"] = param_counts()
  else:
    import torch
    run, info["threads"] = torch_runner(x, c), torch.get_num_threads()
  print(json.dumps(info), flush=True)
  for line in sys.stdin:
    cmd = line.strip()
    if cmd == "quit":
      break
    if cmd == "floor":
      times = (fdmae_floor.jax_times if kind == "jax" else fdmae_floor.torch_times)(
          fdmae_floor.parts(c, args.batch))
      print(json.dumps(fdmae_floor.encode(times)), flush=True)
    else:
      print(json.dumps(run() if cmd == "step" else gemm_gflops(kind)), flush=True)


def pretrain_config():
  return config_lib.load(os.path.join(HERE, "..", "configs", "fdmae.py:ntu60_xsub_pretrain"))


def main() -> None:
  ap = argparse.ArgumentParser(description="FD-MAE pre-training step: JAX next to a same-size PyTorch step.")
  ap.add_argument("--steps", type=int, default=5, help="timed steps per framework (the median is reported)")
  ap.add_argument("--batch", type=int, default=8, help="clips per step (2 persons, 2 x 120 frames each)")
  ap.add_argument("--no-torch", action="store_true", help="time the JAX step only")
  ap.add_argument("--pause", type=float, default=1.0, help="seconds idle before each timed step")
  ap.add_argument("--default-malloc", action="store_true",
                  help="leave glibc's allocator settings alone (actionjax/host_memory.py), to measure their effect")
  ap.add_argument("--floor", action="store_true",
                  help="also time the blocks' matrix products and attention cores alone (fdmae_floor.py)")
  ap.add_argument("--worker", choices=("jax", "torch"), help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.worker:
    return worker(args.worker, args)
  c = pretrain_config()
  m, d = c.model, c.data
  result = {
      "device": f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores visible)",
      "load_average_at_start": os.getloadavg(),
      "config": "ntu60_xsub_pretrain", "batch": args.batch, "persons": d.max_persons,
      "frames_per_path": d.num_frames // 2, "mask_ratio": m.mask_ratio, "steps_timed": args.steps,
      "pause_s": args.pause,
  }
  # Each framework runs in a process of its own, started now and idle while the other steps: in
  # one process they share glibc's heap and PyTorch's spinning OpenMP workers slowed JAX's step.
  kinds = ("jax",) if args.no_torch else ("jax", "torch")
  flags = [f"--batch={args.batch}"] + (["--default-malloc"] if args.default_malloc else [])
  procs = {k: subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", k] + flags,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k in kinds}

  def ask(kind: str, cmd: str | None = None):
    if cmd:
      procs[kind].stdin.write(cmd + "\n")
      procs[kind].stdin.flush()
    line = procs[kind].stdout.readline()
    if not line:
      raise SystemExit(f"the {kind} worker exited (its error is above)")
    return json.loads(line)

  info = {k: ask(k) for k in kinds}
  flop = info["jax"].pop("step_flop")
  result.update(params=info["jax"].pop("params"), step_gflop=flop / 1e9, workers=info)
  # Alternate the two so that both see the same background load (this machine is shared).
  runs = {k: [] for k in kinds}
  for _ in range(args.steps):
    for k in kinds:
      time.sleep(args.pause)
      runs[k].append(ask(k, "step"))
  gemm = {k: ask(k, "gemm") for k in kinds}
  if args.floor:
    parts = fdmae_floor.parts(c, args.batch)
    result["floor"] = fdmae_floor.floor(parts, [fdmae_floor.decode(ask(k, "floor")) for k in kinds])
  for k in kinds:
    result[k] = summary(runs[k], flop, args.batch)
    procs[k].communicate("quit\n")
  result["best_gemm_gflop_per_s"] = gemm
  result["step_s_at_best_gemm_rate"] = flop / max(gemm.values()) / 1e9
  if "torch" in kinds:
    result["speedup_jax_over_torch"] = result["torch"]["step_s"] / result["jax"]["step_s"]
    result["speedup_if_every_flop_ran_at_best_gemm_rate"] = (
        result["torch"]["step_s"] / result["step_s_at_best_gemm_rate"])
    if args.floor:
      result["speedup_if_the_step_took_its_floor"] = result["torch"]["step_s"] / result["floor"]["floor_s"]
  result["load_average_at_end"] = os.getloadavg()
  name = "fdmae_step_default_malloc.json" if args.default_malloc else "fdmae_step.json"
  os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
  with open(os.path.join(HERE, "results", name), "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
