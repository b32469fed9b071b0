"""Per-stage forward+backward breakdown of the FG-STFormer paper config, JAX vs the PyTorch mirror.

Each stage (stage-1 layers, focal selection + part embedding, stage-2 layers, head, SGD update)
is jitted on its own with the shapes it sees in the paper config at batch B (N = 2B sequences),
and timed as grad of <out, fixed cotangent> w.r.t. parameters and input; the mirror runs the same
submodules eagerly. JAX and torch rounds alternate; the minimum over rounds is reported (ms): load
on a shared machine only adds time.

  python benchmarks/fgstformer_profile.py [--batch 8] [--steps 2] [--rounds 3] [--only s1_0,...]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

if "--single-thread" in sys.argv:  # one core each: contention on a shared machine distorts less
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
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


def time_it(fn, n):
  fn()
  t = time.perf_counter()
  for _ in range(n):
    fn()
  return (time.perf_counter() - t) / n


def jax_seg(module, fn, args):
  """Jitted grad of sum(fn(module, *args) * ct) w.r.t. params and float args."""
  gd, p, r = nnx.split(module, nnx.Param, ...)
  out = jax.eval_shape(lambda p, r, a: fn(nnx.merge(gd, p, r, copy=True), *a), p, r, args)
  cts = jax.tree.map(lambda s: jnp.asarray(np.random.default_rng(1).normal(size=s.shape), s.dtype),
                     out)

  def loss(p, fa, r, ia):
    m = nnx.merge(gd, p, r, copy=True)
    a = [f if f is not None else i for f, i in zip(fa, ia)]
    o = fn(m, *a)
    return sum(jnp.vdot(x, c) for x, c in zip(jax.tree.leaves(o), jax.tree.leaves(cts)))

  fa = [a if jnp.issubdtype(a.dtype, jnp.floating) else None for a in args]
  ia = [None if jnp.issubdtype(a.dtype, jnp.floating) else a for a in args]
  g = jax.jit(jax.grad(loss, argnums=(0, 1)))
  return lambda: jax.block_until_ready(g(p, fa, r, ia))


def torch_seg(fn, args):
  args = [a.clone().requires_grad_() if a.is_floating_point() else a for a in args]
  with torch.no_grad():
    outs = fn(*args)
  outs = outs if isinstance(outs, tuple) else (outs,)
  cts = [torch.from_numpy(np.random.default_rng(1).normal(size=o.shape).astype(np.float32))
         for o in outs if o is not None]

  def run():
    o = fn(*args)
    o = [x for x in (o if isinstance(o, tuple) else (o,)) if x is not None]
    sum((x * c).sum() for x, c in zip(o, cts)).backward()
  return run


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--steps", type=int, default=2)
  ap.add_argument("--rounds", type=int, default=3)
  ap.add_argument("--only", default="")
  ap.add_argument("--no-torch", action="store_true")
  ap.add_argument("--single-thread", action="store_true")
  ap.add_argument("--out", default="")
  args = ap.parse_args()
  torch.set_num_threads(1 if args.single_thread else os.cpu_count() or 1)
  config = config_lib.load(str(ROOT / "configs" / "fgstformer.py") + ":ntu60_xsub")
  model = registry.create(config, rngs=nnx.Rngs(0))
  tm = export.torch_model(config)
  tm.load_state_dict({k: torch.from_numpy(v.copy())
                      for k, v in export.state_dict(model, config).items()})
  tm.train()
  rng = np.random.default_rng(0)
  n, t, v = 2 * args.batch, config.data.num_frames, config.data.num_joints
  widths = tuple(config.model.channels)
  ins = (widths[0],) + widths[:-1]
  segs = {}
  tt = t
  for i, layer in enumerate(model.stage1):
    x = rng.normal(size=(n, tt, v, ins[i])).astype(np.float32)
    segs[f"s1_{i}_sformer"] = (layer.sformer, lambda m, x: m(x, train=True), [x],
                               tm.stage1[i].sformer, lambda x, i=i: tm.stage1[i].sformer(x))
    segs[f"s1_{i}_tformer"] = (layer.tformer, lambda m, x: m(x, train=True), [x],
                               tm.stage1[i].tformer, lambda x, i=i: tm.stage1[i].tformer(x))
    tt = -(-tt // model.strides[i])
  x = rng.normal(size=(n, tt, v, ins[6])).astype(np.float32)

  def focal_parts(m, x):
    xj, ids, _ = fg.select_focal(x, m.w_p[...], m.num_focal)
    return xj, fg.embed_parts(x, m.parts, m.part_embed)

  def t_focal_parts(x):
    s = torch.sigmoid((x @ tm.w_p) / torch.linalg.norm(tm.w_p))
    vals, ids = torch.topk(s, tm.num_focal, dim=-1)
    xj = torch.gather(x, 2, ids[..., None].expand(-1, -1, -1, x.shape[-1])) * vals[..., None]
    return xj, tm.embed_parts(x)

  segs["focal_parts"] = (model, focal_parts, [x], tm, t_focal_parts)
  xj, ids, _ = fg.select_focal(jnp.asarray(x), model.w_p[...], model.num_focal)
  xp = fg.embed_parts(jnp.asarray(x), model.parts, model.part_embed)
  xj, ids, xp = np.asarray(xj), np.asarray(ids), np.asarray(xp)
  for j, layer in enumerate(model.stage2):
    segs[f"s2_{j}"] = (layer, lambda m, a, b, c: m(a, b, c, True), [xj, xp, ids],
                       tm.stage2[j], lambda a, b, c, j=j: tm.stage2[j](a, b, c))
    parts = {"joint_s": lambda m, a, c: m.joint_s(a, ids=c, train=True),
             "part_s": lambda m, b: m.part_s(b, train=True),
             "jpca": lambda m, a, b: (m.part_to_joint(a, context=b, train=True),
                                      m.joint_to_part(b, context=a, train=True)),
             "joint_t": lambda m, a: m.joint_t(a, train=True),
             "part_t": lambda m, b: m.part_t(b, train=True)}
    targs = {"joint_s": [xj, ids], "part_s": [xp], "jpca": [xj, xp], "joint_t": [xj],
             "part_t": [xp]}
    tl = tm.stage2[j]
    tparts = {"joint_s": lambda a, c: tl.joint_s(a, ids=c), "part_s": lambda b: tl.part_s(b),
              "jpca": lambda a, b: (tl.part_to_joint(a, context=b), tl.joint_to_part(b, context=a)),
              "joint_t": lambda a: tl.joint_t(a), "part_t": lambda b: tl.part_t(b)}
    if j == 0:
      for k in parts:
        segs[f"s2_{j}_{k}"] = (layer, parts[k], targs[k], tl, tparts[k])
  order = list(segs)
  if args.only:
    order = [k for k in order if any(k.startswith(o) for o in args.only.split(","))]
  res = {k: {"jax": [], "torch": []} for k in order}
  fns = {}
  for k in order:
    mod, fn, a, _, tfn = segs[k]
    fns[k] = (jax_seg(mod, fn, [jnp.asarray(z) for z in a]),
              None if args.no_torch else torch_seg(tfn, [torch.from_numpy(np.asarray(z)) for z in a]))
  if not args.only or "sgd" in args.only:  # the optimiser step alone, on random gradients
    order.append("sgd_update")
    res["sgd_update"] = {"jax": [], "torch": []}
    tx = optax.chain(optax.add_decayed_weights(5e-4), optax.sgd(0.01, momentum=0.9, nesterov=True))
    params = nnx.state(model, nnx.Param)
    grads = jax.tree.map(lambda a: jnp.ones_like(a) * 1e-3, params)
    carry = {"p": params, "o": tx.init(params)}

    @jax.jit
    def sgd(p, o, g):
      u, o = tx.update(g, o, p)
      return optax.apply_updates(p, u), o

    def jax_sgd():
      carry["p"], carry["o"] = jax.block_until_ready(sgd(carry["p"], carry["o"], grads))

    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    for q in tm.parameters():
      q.grad = torch.full_like(q, 1e-3)
    fns["sgd_update"] = (jax_sgd, None if args.no_torch else topt.step)
  for _ in range(args.rounds):
    for k in order:
      res[k]["jax"].append(time_it(fns[k][0], args.steps))
      if fns[k][1] is not None:
        res[k]["torch"].append(time_it(fns[k][1], args.steps))
  table = {}
  for k in order:
    row = {s: round(min(v) * 1e3, 1) for s, v in res[k].items() if v}
    if "torch" in row:
      row["torch/jax"] = round(row["torch"] / row["jax"], 2)
    table[k] = row
    print(f"{k:22s} {row}", flush=True)
  out = {"batch": args.batch, "single_thread": args.single_thread, "load_avg": os.getloadavg(),
         "fwd_bwd_ms": table}
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
  main()
