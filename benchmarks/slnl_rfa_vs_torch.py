"""SLnL-rFA: parameter count, XLA FLOPs per sample, and CPU train throughput of the jitted JAX step
(forward + backward + Adam) next to the PyTorch mirror's eager step, same batch, same process.

  python benchmarks/slnl_rfa_vs_torch.py [--variant ntu60_xsub] [--batch 4] [--steps 3]

Writes benchmarks/results/slnl_rfa_vs_torch.json. Measured, not asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx

from actionjax import config as config_lib
from actionjax import losses
from actionjax.export import slnl_rfa as export
from actionjax.models import registry

HERE = os.path.dirname(os.path.abspath(__file__))


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--variant", default="ntu60_xsub")
  p.add_argument("--batch", type=int, default=4)
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--out", default=os.path.join(HERE, "results", "slnl_rfa_vs_torch.json"))
  args = p.parse_args()

  c = config_lib.load(os.path.join(HERE, "..", "configs", "slnl_rfa.py") + ":" + args.variant)
  b, d = args.batch, c.data
  rng = np.random.default_rng(0)
  x_np = rng.normal(size=(b, d.max_persons, d.num_frames, d.num_joints, d.channels)).astype(np.float32)
  y_np = rng.integers(0, c.model.num_classes, size=b).astype(np.int32)
  x, y = jnp.asarray(x_np), jnp.asarray(y_np)

  model = nnx.jit(lambda: registry.create(c, rngs=nnx.Rngs(0)))()
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  n_params = int(sum(a.size for a in jax.tree.leaves(params)))

  def forward(params, rest, x):
    return nnx.merge(graphdef, params, rest, copy=True)(x)["logits"]

  one = x[:1]
  fwd_flops = _flops(jax.jit(forward).lower(params, rest, one).compile())  # one sample (M persons)

  loss_fn = losses.from_config(c)
  tx = optax.adamw(c.schedule.base_lr, weight_decay=c.optimizer.weight_decay)
  opt = tx.init(params)

  def step(params, rest, opt, key):
    def f(params):
      m = nnx.merge(graphdef, params, rest, copy=True)
      out = m(x, train=True, rngs=nnx.Rngs(dropout=key))
      return loss_fn(out, {"label": y})[0].mean(), nnx.state(m, nnx.BatchStat)
    (loss, rest), grads = jax.value_and_grad(f, has_aux=True)(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), rest, opt, loss

  t0 = time.perf_counter()
  compiled = jax.jit(step, donate_argnums=(0, 1, 2)).lower(params, rest, opt, jax.random.key(0)).compile()
  compile_s = time.perf_counter() - t0
  step_flops = _flops(compiled)
  params, rest, opt, loss = compiled(params, rest, opt, jax.random.key(0))  # warm-up
  jax.block_until_ready(loss)
  t0 = time.perf_counter()
  for i in range(args.steps):
    params, rest, opt, loss = compiled(params, rest, opt, jax.random.key(i + 1))
  jax.block_until_ready(loss)
  jax_step = (time.perf_counter() - t0) / args.steps

  tm = export.torch_model(c).train()
  tm.load_state_dict({k: torch.tensor(v) for k, v in export.state_dict(nnx.merge(graphdef, params, rest), c).items()})
  topt = torch.optim.AdamW(tm.parameters(), lr=c.schedule.base_lr, weight_decay=c.optimizer.weight_decay)
  tx_, ty = torch.tensor(x_np), torch.tensor(y_np, dtype=torch.long)

  def torch_step():
    out = tm(tx_)
    loss = sum(torch.nn.functional.cross_entropy(z, ty) for z in (out["logits"], *out["aux_logits"]))
    topt.zero_grad()
    loss.backward()
    topt.step()

  # Timed at 1 thread and at torch's default: on a shared, oversubscribed machine OpenMP threads
  # that spin-wait can make the multi-threaded run far slower than the single-threaded one.
  default_threads = torch.get_num_threads()
  torch_s = {}
  for threads in sorted({1, default_threads}):
    torch.set_num_threads(threads)
    torch_step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.steps):
      torch_step()
    torch_s[threads] = (time.perf_counter() - t0) / args.steps
  torch.set_num_threads(default_threads)

  result = {
      "variant": args.variant, "batch": b, "steps_timed": args.steps,
      "input_shape": list(x_np.shape), "param_count": n_params,
      "forward_flops_per_sample": fwd_flops,
      "train_step_flops_per_sample": step_flops / b,
      "jax_compile_s": compile_s,
      "jax_train_step_s": jax_step, "jax_samples_per_s": b / jax_step,
      "torch_train_step_s_by_threads": {str(k): v for k, v in torch_s.items()},
      "torch_samples_per_s": b / min(torch_s.values()),
      "load_average_at_end": list(os.getloadavg()),
      "notes": "CPU; JAX jitted fwd+bwd+AdamW (SMFL, 3 heads); torch eager fwd+bwd+AdamW (CE on 3 heads, "
               "the loss is negligible next to the network).",
      "platform": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
      "jax": jax.__version__, "torch": torch.__version__,
      "jax_devices": [str(dv) for dv in jax.devices()],
  }
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
