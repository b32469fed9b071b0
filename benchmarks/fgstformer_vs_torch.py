"""FG-STFormer CPU benchmark: JAX (jitted fwd+bwd+SGD) vs the PyTorch mirror (eager), same run.

Also reports parameters and FLOPs per sample of the NTU-60 paper config (T=128, M=2), the demo
model's step time at batch 16 and a per-block forward+backward breakdown with four formulations
of the dilated temporal convolution (the 2-D (k x 1) convolution, the joints folded into a 1-D
convolution's batch as TemporalConv does, shifted matmuls, im2col). A per-stage breakdown is
benchmarks/fgstformer_profile.py. Writes benchmarks/results/fgstformer_vs_torch.json.

  python benchmarks/fgstformer_vs_torch.py [--batch 8] [--steps 3] [--frames 128]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx

from actionjax import config as config_lib
from actionjax.export import fgstformer as export
from actionjax.models import fgstformer as fg
from actionjax.models import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fgstformer.py")


def jax_train_step(model, lr=0.01):
  """A jitted SGD-Nesterov step (the §4.2 optimiser) on split state; returns (step, carry)."""
  gd, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optax.chain(optax.add_decayed_weights(5e-4), optax.sgd(lr, momentum=0.9, nesterov=True))
  opt = tx.init(params)

  def loss_fn(p, r, x, y):
    m = nnx.merge(gd, p, r, copy=True)
    logits = m(x, train=True)["logits"]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, nnx.state(m, nnx.BatchStat)

  @jax.jit
  def step(carry, x, y):
    p, r, o = carry
    (loss, bs), g = jax.value_and_grad(loss_fn, has_aux=True)(p, r, x, y)
    upd, o = tx.update(g, o, p)
    r = nnx.merge_state(r, bs)
    return (optax.apply_updates(p, upd), r, o), loss

  return step, (params, rest, opt)


def time_it(fn, n):
  fn()  # warm-up (compile / allocator)
  t = time.perf_counter()
  for _ in range(n):
    fn()
  return (time.perf_counter() - t) / n


def bench_train(config, batch, steps, rounds=3):
  model = registry.create(config, rngs=nnx.Rngs(0))
  d = config.data
  rng = np.random.default_rng(0)
  x = rng.normal(size=(batch, d.max_persons, d.num_frames, d.num_joints, d.channels)).astype(np.float32)
  y = rng.integers(0, config.model.num_classes, batch)
  tm = export.torch_model(config)
  tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in export.state_dict(model, config).items()})
  tm.train()
  topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
  xt, yt = torch.from_numpy(x), torch.from_numpy(y)
  step, carry = jax_train_step(model)
  xj, yj = jnp.asarray(x), jnp.asarray(y)
  state = {"carry": carry}

  def jax_once():
    state["carry"], loss = step(state["carry"], xj, yj)
    loss.block_until_ready()

  def torch_once():
    topt.zero_grad()
    torch.nn.functional.cross_entropy(tm(xt), yt).backward()
    topt.step()

  t0 = time.perf_counter()
  jax_once()
  compile_s = time.perf_counter() - t0
  jt, tt = [], []
  for _ in range(rounds):  # interleaved: a shared machine's load hits both sides alike
    jt.append(time_it(jax_once, steps))
    tt.append(time_it(torch_once, steps))
  return {"jax_step_s": min(jt), "torch_step_s": min(tt), "jax_compile_s": compile_s,
          "jax_rounds_s": jt, "torch_rounds_s": tt,
          "round_speedups": [b / a for a, b in zip(jt, tt)],
          "jax_samples_per_s": batch / min(jt), "torch_samples_per_s": batch / min(tt),
          "speedup_jax_over_torch": min(tt) / min(jt)}


def block_breakdown(batch, frames, steps):
  """Forward+backward time of single blocks at the paper's first-layer shape (N=2B, T, V=25)."""
  n, v = 2 * batch, 25
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(n, frames, v, 64)), jnp.float32)
  out = {}
  blocks = {
      "sformer_64": fg.SFormer(64, num_heads=3, qk_features=16, num_positions=v, global_map=v,
                               norm="batch", slope=0.1, rngs=nnx.Rngs(0)),
      "tformer_fg_64": fg.TFormer(64, 64, num_heads=2, kernel_size=7, dilations=(1, 2), stride=1,
                                  mode="fg", norm="batch", slope=0.1, rngs=nnx.Rngs(0)),
      "tformer_tcn_only_64": fg.TFormer(64, 64, num_heads=2, kernel_size=7, dilations=(1, 2),
                                        stride=1, mode="tcn", norm="batch", slope=0.1,
                                        rngs=nnx.Rngs(0)),
      "tformer_basic_64": fg.TFormer(64, 64, num_heads=2, kernel_size=7, dilations=(1, 2),
                                     stride=1, mode="basic", norm="batch", slope=0.1,
                                     rngs=nnx.Rngs(0)),
  }
  for name, block in blocks.items():
    gd, p, r = nnx.split(block, nnx.Param, ...)
    f = jax.jit(jax.grad(lambda p, r, x: (nnx.merge(gd, p, r, copy=True)(x, train=True) ** 2).mean(),
                         argnums=(0, 2)))
    out[name] = time_it(lambda: jax.block_until_ready(f(p, r, x)), steps)
  # Two formulations of one dilated k=7 conv (64 -> 32 channels, the V of one head).
  conv = fg.TemporalConv(64, 32, 7, dilation=2, rngs=nnx.Rngs(0))
  k = conv.kernel[...]

  def lax_conv(k, x):
    return jax.lax.conv_general_dilated(x, k, (1, 1), ((6, 6), (0, 0)), rhs_dilation=(2, 1),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  def shifted_matmul(k, x):  # sum_i shift(x, d(i-3)) @ K_i: 7 matmuls, no conv op
    xp = jnp.pad(x, ((0, 0), (6, 6), (0, 0), (0, 0)))
    return sum(xp[:, 2 * i: 2 * i + x.shape[1]] @ k[i, 0] for i in range(7))

  def im2col(k, x):  # one (T*N*V, 7*C) x (7*C, C') matmul
    xp = jnp.pad(x, ((0, 0), (6, 6), (0, 0), (0, 0)))
    cols = jnp.concatenate([xp[:, 2 * i: 2 * i + x.shape[1]] for i in range(7)], axis=-1)
    return cols @ k.reshape(-1, k.shape[-1])

  def folded_1d(k, x):  # TemporalConv's formulation: joints folded into a 1-D conv's batch
    n, t, v, c = x.shape
    y = jax.lax.conv_general_dilated(jnp.swapaxes(x, 1, 2).reshape(n * v, t, c), k[:, 0], (1,),
                                     ((6, 6),), rhs_dilation=(2,),
                                     dimension_numbers=("NWC", "WIO", "NWC"))
    return jnp.swapaxes(y.reshape(n, v, t, -1), 1, 2)

  for name, fn in (("conv_lax", lax_conv), ("conv_folded_1d", folded_1d),
                   ("conv_shifted_matmul", shifted_matmul), ("conv_im2col", im2col)):
    g = jax.jit(jax.grad(lambda k, x: (fn(k, x) ** 2).mean(), argnums=(0, 1)))
    out[name + "_fwd_bwd"] = time_it(lambda: jax.block_until_ready(g(k, x)), steps)
  tconv = torch.nn.Conv2d(64, 32, (7, 1), padding=(6, 0), dilation=(2, 1))
  xt = torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).contiguous().requires_grad_()

  def torch_conv():
    tconv.zero_grad()
    (tconv(xt) ** 2).mean().backward()

  out["conv_torch_fwd_bwd"] = time_it(torch_conv, steps)
  return {k: round(v * 1e3, 2) for k, v in out.items()}  # milliseconds


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--steps", type=int, default=3)
  ap.add_argument("--frames", type=int, default=128)
  ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fgstformer_vs_torch.json"))
  args = ap.parse_args()
  torch.set_num_threads(os.cpu_count() or 1)
  result = {"jax": jax.__version__, "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
            "jax_devices": str(jax.devices()), "load_avg_start": os.getloadavg()}
  paper = config_lib.load(CONFIG + ":ntu60_xsub", (f"data.num_frames={args.frames}",))
  abstract = nnx.eval_shape(lambda: registry.create(paper, rngs=nnx.Rngs(0)))
  result["params"] = int(sum(x.size for x in jax.tree.leaves(nnx.state(abstract, nnx.Param))))
  gd, state = nnx.split(abstract)
  x1 = jax.ShapeDtypeStruct((1, 2, args.frames, 25, 3), jnp.float32)
  cost = jax.jit(lambda s, x: nnx.merge(gd, s)(x)["logits"]).lower(state, x1).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  result["flops_per_sample"] = float(cost["flops"])
  result["paper_train_step"] = {"batch": args.batch, "frames": args.frames,
                                **bench_train(paper, args.batch, args.steps)}
  demo = config_lib.load(CONFIG + ":demo")
  result["demo_train_step_batch16"] = bench_train(demo, 16, 3 * args.steps)
  result["block_fwd_bwd_ms"] = {"batch": args.batch, "frames": args.frames,
                                **block_breakdown(args.batch, args.frames, args.steps)}
  result["load_avg_end"] = os.getloadavg()
  pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.out).write_text(json.dumps(result, indent=2))
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
