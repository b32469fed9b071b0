"""MFST CPU benchmark: sizes, FLOPs per clip, and the train step of JAX (jitted fwd+bwd+SGD) vs the
PyTorch mirror (eager) in the same run, with a per-part (stem, stages, head) forward+backward
breakdown. Writes benchmarks/results/mfst_step.json.

  python benchmarks/mfst_step.py [--batch 2] [--frames 16] [--size 112] [--steps 2] [--flops_size 224]

Parameters: RGB, NTU-60 (60 classes), 32 frames (Table III). FLOPs: XLA's cost analysis of the
eval forward of one 32 x 224 x 224 clip (2 x multiply-adds for convs / matmuls).
"""
from __future__ import annotations

import argparse
import json
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
from actionjax.export import mfst as export
from actionjax.models import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "mfst.py")
TABLE_III = {"base": 32.6e6, "large": 49.7e6}


def count_params(config) -> int:
  m = nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0)))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(m, nnx.Param)))


def flops_per_clip(config, frames, size) -> float:
  config.data.num_frames, config.data.image_size = frames, size
  gd, state = nnx.split(nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0))))
  x = jax.ShapeDtypeStruct((1, frames, size, size, 3), jnp.float32)
  lowered = jax.jit(lambda s, x: nnx.merge(gd, s)(x)["logits"]).lower(state, x)
  cost = lowered.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def jax_train_step(model, lr=0.01):
  """A jitted SGD step (momentum 0.9, wd 3e-4: §IV-A) on split state."""
  gd, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optax.chain(optax.add_decayed_weights(3e-4), optax.sgd(lr, momentum=0.9))
  opt = tx.init(params)

  def loss_fn(p, r, x, y):
    m = nnx.merge(gd, p, r, copy=True)
    logits = m(x, train=True)["logits"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), nnx.state(m, nnx.BatchStat)

  @jax.jit
  def step(carry, x, y):
    p, r, o = carry
    (loss, bs), g = jax.value_and_grad(loss_fn, has_aux=True)(p, r, x, y)
    upd, o = tx.update(g, o, p)
    return (optax.apply_updates(p, upd), nnx.merge_state(r, bs), o), loss

  return step, (params, rest, opt)


def time_it(fn, n):
  fn()
  t = time.perf_counter()
  for _ in range(n):
    fn()
  return (time.perf_counter() - t) / n


def bench_train(config, batch, steps, rounds=2):
  model = registry.create(config, rngs=nnx.Rngs(0))
  d = config.data
  rng = np.random.default_rng(0)
  x = rng.normal(size=(batch, d.num_frames, d.image_size, d.image_size, 3)).astype(np.float32)
  y = rng.integers(0, config.model.num_classes, batch)
  tm = export.torch_model(config)
  tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in export.state_dict(model, config).items()})
  tm.train()
  topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4)
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
  for _ in range(rounds):  # interleaved: the shared machine's load hits both sides alike
    jt.append(time_it(jax_once, steps))
    tt.append(time_it(torch_once, steps))
  return {"jax_step_s": min(jt), "torch_step_s": min(tt), "jax_compile_s": compile_s,
          "jax_rounds_s": jt, "torch_rounds_s": tt, "speedup_jax_over_torch": min(tt) / min(jt)}, model, tm, x


def part_breakdown(model, tm, x, steps):
  """Forward+backward (gradient of the output sum w.r.t. the part's weights, and its input for the
  stages) of the stem,
  each stage and the head, JAX (jitted, train mode) vs torch (train mode), on the real activations."""
  out = {}
  s, ts = model.rgb, tm.rgb
  parts = [("stem", lambda m, x: _stem(m, x), lambda t, x: _tstem(t, x))]
  for i in range(len(s.stages)):
    parts.append((f"stage{i + 1}", lambda m, x, i=i: m.stages[i](x, True),
                  lambda t, x, i=i: t.stages[i](x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)))
  h = jnp.asarray(x)
  for name, jf, tf in parts:
    gd, params, rest = nnx.split(s, nnx.Param, ...)

    def loss(p, h, jf=jf):
      return jf(nnx.merge(gd, p, rest, copy=True), h).sum()

    # The train step never needs d/d(video): the stem's gradient is w.r.t. its weights only
    # (XLA:CPU's input gradient of the strided 3-channel 3x7x7 conv is pathologically slow).
    need_input_grad = name != "stem"
    g = jax.jit(jax.grad(loss, argnums=(0, 1) if need_input_grad else 0))
    ht = torch.from_numpy(np.array(h)).requires_grad_(need_input_grad)

    def torch_once(tf=tf, ht=ht):
      ts.zero_grad()
      tf(ts, ht).sum().backward()

    jt = time_it(lambda: jax.block_until_ready(g(params, h)), steps)
    tt = time_it(torch_once, steps)
    out[name] = {"jax_s": jt, "torch_s": tt, "input_shape": list(h.shape)}
    h = jax.jit(lambda p, h, jf=jf: jf(nnx.merge(gd, p, rest, copy=True), h))(params, h)
  return out


def _stem(m, x):
  from actionjax.models.mfst import max_pool3d
  x = max_pool3d(m.conv1(x, True), (1, 3, 3), (1, 2, 2))
  return max_pool3d(m.conv3(m.conv2(x, True), True), (1, 3, 3), (1, 2, 2))


def _tstem(t, x):
  from actionjax.export.torch_models.mfst import max_pool3d
  x = x.permute(0, 4, 1, 2, 3)
  x = max_pool3d(t.conv1(x), (1, 3, 3), (1, 2, 2))
  return max_pool3d(t.conv3(t.conv2(x)), (1, 3, 3), (1, 2, 2)).permute(0, 2, 3, 4, 1)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=2)
  ap.add_argument("--frames", type=int, default=16)
  ap.add_argument("--size", type=int, default=112)
  ap.add_argument("--steps", type=int, default=2)
  ap.add_argument("--flops_size", type=int, default=224)
  ap.add_argument("--skip_breakdown", action="store_true")
  args = ap.parse_args()
  torch.set_num_threads(max(1, torch.get_num_threads()))
  res = {"host": platform.node(), "jax": jax.__version__, "torch": torch.__version__,
         "torch_threads": torch.get_num_threads(), "sizes": {}}
  for size in ("base", "large", "bm"):
    c = config_lib.load(f"{CONFIG}:ntu60_xsub,size={size}")
    n = count_params(c)
    row = {"parameters": n}
    if size in TABLE_III:
      row.update(table_iii=TABLE_III[size], rel_diff=(n - TABLE_III[size]) / TABLE_III[size])
    row["gflops_per_clip_32x%d" % args.flops_size] = flops_per_clip(c, 32, args.flops_size) / 1e9
    res["sizes"][size] = row
    print(size, row, flush=True)
  c = config_lib.load(f"{CONFIG}:ntu60_xsub,size=base", [f"data.num_frames={args.frames}",
                                                          f"data.image_size={args.size}"])
  train, model, tm, x = bench_train(c, args.batch, args.steps)
  train["shape"] = [args.batch, args.frames, args.size, args.size, 3]
  res["train_step_base"] = train
  print("train step", train, flush=True)
  if not args.skip_breakdown:
    res["breakdown_fwd_bwd"] = part_breakdown(model, tm, x, args.steps)
    print("breakdown", res["breakdown_fwd_bwd"], flush=True)
  res["load_average"] = list(__import__("os").getloadavg())
  out = ROOT / "benchmarks" / "results" / "mfst_step.json"
  out.write_text(json.dumps(res, indent=2) + "\n")
  print(out)


if __name__ == "__main__":
  main()
