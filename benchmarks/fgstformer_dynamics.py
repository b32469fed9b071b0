"""FG-STFormer training dynamics: the product's JAX train step vs the PyTorch mirror, side by side.

Both start from the same weights (the JAX initialisation, copied into the mirror), see the same
sequence of batches from the real input pipeline, and take torch.optim.SGD / the configured optax
chain with the same learning rate per step (the JAX schedule, warm-up included). Per step it
records both losses; every --every steps:
- drift: ||theta_jax - theta_torch|| relative to how far the JAX parameters moved from the start;
- one synced step: fresh mirrors get the JAX run's current weights and momentum buffers, all take
  the same step, and ||update_jax - update_torch|| / ||update|| is recorded, beside each
  framework's distance from the same step taken by a float64 mirror (the rounding floor on that
  batch) and the parameters where the difference sits;
- with focal joints, the share of frames whose top-K sets differ between the frameworks.
Free-running float32 training is chaotic (rounding differences grow step by step, and a near-tie
in the focal top-k flips a selection), so the drift grows even with identical updates; the synced
step separates that from a real difference in the update (weight-decay masking, the Nesterov form,
BatchNorm), which would show there at once. Writes benchmarks/results/fgstformer_dynamics.json and
a PNG of both loss curves.

  python benchmarks/fgstformer_dynamics.py --data_dir runs/nwucla/data --steps 200 \\
      [--config configs/fgstformer.py:nwucla] [--config.key=value ...]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def flat_params(tree, prefix=()) -> dict[str, np.ndarray]:
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(flat_params(v, prefix + (str(k),)))
    else:
      out[".".join(prefix + (str(k),))] = np.asarray(v, np.float64)
  return out


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data_dir", required=True, help="prepared records (actionjax prepare nwucla ...)")
  parser.add_argument("--config", default=os.path.join(ROOT, "configs", "fgstformer.py:nwucla"))
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--every", type=int, default=25, help="drift measured every N steps")
  parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
  parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "fgstformer_dynamics.json"))
  overrides = [a for a in argv if a.startswith("--config.")]
  args = parser.parse_args([a for a in argv if not a.startswith("--config.")])

  import jax
  import jax.numpy as jnp
  import optax
  import torch
  from flax import nnx

  from actionjax import config as config_lib
  from actionjax.export import fgstformer as export
  from actionjax.training import setup as setup_lib
  from actionjax.training import sharding
  from actionjax.training.step import make_train_step
  from actionjax.training.trainer import epoch_steps, make_pipeline
  if args.threads:
    torch.set_num_threads(args.threads)

  config = config_lib.load(args.config, [f"data.dir={os.path.abspath(args.data_dir)}"] + overrides)
  o, t = config.optimizer, config.train
  if o.name != "sgd" or o.decay_mask != "all" or o.get("dampening", 0.0) or t.grad_accum_steps != 1:
    raise SystemExit("this comparison mirrors torch.optim.SGD(weight_decay=...) on every parameter;"
                     " use optimizer.name=sgd, optimizer.decay_mask=all, no dampening or accumulation")
  devices = jax.devices()[:1]
  mesh = sharding.make_mesh(config, devices)
  pipeline = make_pipeline(config, config.data.train_split, train=True, batch_size=t.batch_size)
  steps_per_epoch = epoch_steps(config, pipeline.num_examples)
  total = t.num_steps or int(round(t.num_epochs * steps_per_epoch))
  setup = setup_lib.build(config, mesh, steps_per_epoch=steps_per_epoch, total_steps=total)
  state = setup_lib.init_state(setup)
  it = iter(pipeline)
  batches = [next(it) for _ in range(args.steps)]

  # The mirror, from the very same initial weights.
  model0 = nnx.merge(setup.graphdef, jax.device_get(state.params), jax.device_get(state.rest))
  mirror = export.torch_model(config)
  mirror.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in export.state_dict(model0, config).items()})
  mirror.train()
  opt = torch.optim.SGD(mirror.parameters(), lr=0.0, momentum=o.momentum, nesterov=o.nesterov,
                        weight_decay=o.weight_decay)
  start = flat_params(jax.device_get(state.params))

  def to_torch(params, rest) -> dict[str, np.ndarray]:
    return export.state_dict(nnx.merge(setup.graphdef, jax.device_get(params), jax.device_get(rest)), config)

  def torch_step(weights, momentum, batch, lr: float, dtype) -> dict[str, np.ndarray]:
    """One SGD step of a fresh mirror in `dtype` from these weights and momentum buffers."""
    model = export.torch_model(config).to(dtype)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    model.train()
    sgd = torch.optim.SGD(model.parameters(), lr=lr, momentum=o.momentum, nesterov=o.nesterov,
                          weight_decay=o.weight_decay)
    for name, p in model.named_parameters():
      sgd.state[p]["momentum_buffer"] = torch.from_numpy(momentum[name].copy()).to(dtype)  # updated in place
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(np.array(batch["inputs"])).to(dtype)),
                                             torch.from_numpy(np.array(batch["label"])).long())
    loss.backward()
    sgd.step()
    return {n: p.detach().double().numpy() for n, p in model.named_parameters()}

  def synced_step(state, batch, lr: float) -> dict:
    """One step of each framework from the JAX run's current weights and momentum. The update
    differences are relative to the update's size; the float64 mirror's step is the reference
    that says how far float32 rounding alone takes each framework on this batch."""
    before = to_torch(state.params, state.rest)
    trace = to_torch(optax.tree_utils.tree_get(state.opt_state, "trace"), state.rest)
    stepped, _ = train_step(jax.tree.map(jnp.copy, state), sharding.global_batch(batch, mesh))
    after = {n: v.astype(np.float64) for n, v in to_torch(stepped.params, stepped.rest).items()}
    got32 = torch_step(before, trace, batch, lr, torch.float32)
    got64 = torch_step(before, trace, batch, lr, torch.float64)
    names = list(got32)
    moved = sum(float(np.sum((got64[n] - before[n]) ** 2)) for n in names)
    rel = lambda a, b: (sum(float(np.sum((a[n] - b[n]) ** 2)) for n in names) / max(moved, 1e-30)) ** 0.5
    err = {n: float(np.sum((after[n] - got32[n]) ** 2)) for n in names}
    worst = sorted(names, key=lambda n: -err[n])[:3]  # where the JAX-torch difference sits
    return {"synced_update_rel_diff": rel(after, got32), "jax_vs_float64": rel(after, got64),
            "torch_vs_float64": rel(got32, got64),
            "synced_worst": {n: round(err[n] / max(sum(err.values()), 1e-30), 3) for n in worst}}

  def focal_agreement(state, batch) -> dict:
    """Both frameworks' focal selections (Eq. (3)) from the JAX run's current weights and this
    batch: the share of frames whose top-K sets differ, how close the K-th and (K+1)-th ranking
    logits come (an exact tie is broken by index in XLA, unspecified in torch) and the share of
    scores that float32 rounds to exactly 1.0."""
    if not config.model.focal:
      return {}
    inputs = np.array(batch["inputs"])
    # Own copies: a train-mode forward writes the BatchNorm statistics.
    model = nnx.merge(setup.graphdef, *jax.tree.map(jnp.array, jax.device_get((state.params, state.rest))))
    f = model.features(jnp.asarray(inputs), train=True)
    scores, k = np.asarray(f["scores"]), model.num_focal
    w = model.w_p[...]
    logits = np.asarray((f["stage1"] @ w) / jnp.linalg.norm(w))  # what select_focal ranks
    probe = export.torch_model(config)
    probe.load_state_dict({n: torch.from_numpy(v.copy()) for n, v in to_torch(state.params, state.rest).items()})
    probe.train()  # batch statistics, as in the step
    with torch.no_grad():
      b, m, t, v, c = inputs.shape
      x = probe.embed(torch.from_numpy(inputs).reshape(b * m, t, v, c))
      for layer in probe.stage1:
        x = layer(x)
      ids = torch.topk((x @ probe.w_p) / torch.linalg.norm(probe.w_p), k, dim=-1).indices
    differ = np.any(np.sort(np.asarray(f["focal_ids"]), -1) != np.sort(ids.numpy(), -1), axis=-1)
    ranked = -np.sort(-logits.astype(np.float64), axis=-1)
    gap = ranked[..., k - 1] - ranked[..., k]
    return {"focal_frames_differ": float(differ.mean()), "focal_boundary_ties": float(np.mean(gap == 0)),
            "focal_min_gap": float(gap.min()), "focal_saturated": float(np.mean(scores == 1.0))}

  def report(rows, drift, t_jax, t_torch) -> dict:
    """The summary so far, written with its PNG (at every check: a stopped run keeps its data)."""
    loss_diff = [abs(r["loss_jax"] - r["loss_torch"]) for r in rows]
    synced_diffs = [d["synced_update_rel_diff"] for d in drift if d["synced_update_rel_diff"] is not None]
    first = min(len(rows), 20)
    summary = {
        "config": args.config, "overrides": overrides, "steps": len(rows), "steps_planned": args.steps,
        "batch": t.batch_size,
        "max_abs_loss_diff": max(loss_diff), "max_abs_loss_diff_step": int(np.argmax(loss_diff)) + 1,
        f"max_abs_loss_diff_first_{first}_steps": max(loss_diff[:first]),
        "max_synced_update_rel_diff": max(synced_diffs, default=None),
        **{f"max_{k}": max((d[k] for d in drift if k in d), default=None)
           for k in ("jax_vs_float64", "torch_vs_float64")},
        "mean_loss_last_25": {"jax": float(np.mean([r["loss_jax"] for r in rows[-25:]])),
                              "torch": float(np.mean([r["loss_torch"] for r in rows[-25:]]))},
        "step_s": {"jax": t_jax / len(rows), "torch": t_torch / len(rows)},
        "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "jax": jax.__version__, "torch": torch.__version__, "load_avg_end": os.getloadavg()},
        "drift": drift, "per_step": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
      json.dump(summary, f, indent=1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["loss_jax"] for r in rows], label="JAX (actionjax)")
    ax.plot(steps, [r["loss_torch"] for r in rows], label="PyTorch mirror", alpha=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("train loss (batch)")
    ax.set_title(f"same init, same batches: max |diff| {summary['max_abs_loss_diff']:.3g}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.splitext(args.out)[0] + ".png", dpi=110)
    plt.close(fig)
    return summary

  train_step = jax.jit(make_train_step(setup.graphdef, config, setup.tx, setup.lr, setup.uses_ema),
                       donate_argnums=(0,))
  rows, drift, t_jax, t_torch = [], [], 0.0, 0.0
  with jax.set_mesh(mesh):
    for k, batch in enumerate(batches):
      lr = float(setup.lr(k))
      check = (k + 1) % args.every == 0 or k + 1 == len(batches)
      synced = synced_step(state, batch, lr) if check and lr > 0 else {"synced_update_rel_diff": None}
      agreement = focal_agreement(state, batch) if check else {}
      t0 = time.perf_counter()
      state, metrics = train_step(state, sharding.global_batch(batch, mesh))
      loss_jax = float(metrics["loss"])
      t_jax += time.perf_counter() - t0
      t0 = time.perf_counter()
      for group in opt.param_groups:
        group["lr"] = lr
      logits = mirror(torch.from_numpy(np.array(batch["inputs"])))
      loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(np.array(batch["label"])).long())
      opt.zero_grad(set_to_none=True)
      loss.backward()
      opt.step()
      t_torch += time.perf_counter() - t0
      rows.append({"step": k + 1, "lr": lr, "loss_jax": loss_jax, "loss_torch": loss.item()})
      if check:
        cur = flat_params(jax.device_get(state.params))
        model = nnx.merge(setup.graphdef, jax.device_get(state.params), jax.device_get(state.rest))
        torch_sd = {key: v.detach().numpy().astype(np.float64) for key, v in mirror.state_dict().items()}
        ours = {key: v.astype(np.float64) for key, v in export.state_dict(model, config).items()}
        keys = [key for key in ours if not key.endswith(("running_mean", "running_var"))]
        diff = sum(float(np.sum((ours[key] - torch_sd[key]) ** 2)) for key in keys) ** 0.5
        moved = sum(float(np.sum((cur[key] - start[key]) ** 2)) for key in cur) ** 0.5
        bn = {stat: max((float(np.max(np.abs(ours[key] - torch_sd[key])) / (np.max(np.abs(ours[key])) + 1e-12))
                         for key in ours if key.endswith(stat)), default=0.0)
              for stat in ("running_mean", "running_var")}
        drift.append({"step": k + 1, **synced,
                      "param_diff_over_movement": diff / max(moved, 1e-30),
                      "param_movement": moved, "bn_mean_max_rel_diff": bn["running_mean"],
                      "bn_var_max_rel_diff": bn["running_var"], **agreement})
        print(f"step {k + 1}: loss jax {loss_jax:.4f} torch {loss.item():.4f};"
              f" |dtheta|/|moved| {diff / max(moved, 1e-30):.2e}"
              + (f"; synced step's update: JAX vs torch {synced['synced_update_rel_diff']:.2e}, vs the"
                 f" float64 step JAX {synced['jax_vs_float64']:.2e}, torch {synced['torch_vs_float64']:.2e}"
                 if synced["synced_update_rel_diff"] is not None else "")
              + (f"; focal sets differ in {agreement['focal_frames_differ']:.2%} of frames,"
                 f" boundary ties {agreement['focal_boundary_ties']:.2%},"
                 f" saturated scores {agreement['focal_saturated']:.2%}" if agreement else ""), flush=True)
        summary = report(rows, drift, t_jax, t_torch)  # the last step is always a check

  print(json.dumps({k: v for k, v in summary.items() if k not in ("per_step", "drift")}, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())
