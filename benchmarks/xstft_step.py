"""X-STFT: Table 2 sizes and the CPU train step against the PyTorch mirror.

  python benchmarks/xstft_step.py [--sizes] [--step] [--out benchmarks/results/xstft_step.json]

--sizes: parameters and FLOPs per clip of the Table 2 networks (16, 32, 64 frames, 112 x 112, 174
classes), next to Table 2 and the analytic parameter count: parameters counted on the abstract
model, FLOPs from XLA's cost analysis of the lowered eval step (what `actionjax bench` reports as
model_flops_per_sample, without compiling), and 2 x multiply-adds of every convolution with
padding taps (`dense_flops`, the convention of Table 2's STFT rows). `--step` runs bench_config
itself on T-STFT and cross-checks its parameters and FLOPs.
--step: median train-step time of T-STFT (batch 4, 16 frames, 112, 174 classes; SGD with
dampening 0.9) in JAX (bench_config) and in the PyTorch mirror (same architecture, SGD(momentum
0.9, dampening 0.9, weight_decay 1e-3)), in the same process, plus a per-stage forward+backward
breakdown (stem, 3b-3c, 4b-4f, 5b-5c) of both.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from actionjax import bench  # noqa: E402
from actionjax import config as config_lib  # noqa: E402

CONFIG = str(ROOT / "configs" / "xstft.py")
TABLE2 = {  # network: (params M, FLOPs G at 16 / 32 / 64 frames)
    "i3d": (12.90, 26.97, 53.95, 107.89), "fact_dw": (6.28, 10.30, 20.79, 41.21),
    "st": (5.84, 10.63, 21.26, 42.52), "s": (6.03, 10.39, 20.79, 41.59),
    "t": (6.27, 10.30, 20.60, 41.21), "s3d": (8.77, None, None, 66.38), "relpv": (4.78, None, None, None),
}


def eval_flops(config) -> float:
  """FLOPs per clip of the eval forward (XLA cost analysis of the lowered step, batch 1)."""
  from flax import nnx
  from actionjax.models import registry
  from actionjax.training.video_inputs import model_inputs
  config = config.copy_and_resolve_references()
  config.model.depthwise = "conv"  # count the grouped convolutions as convolutions
  model = nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0)))
  gd, state = nnx.split(model)
  x = jax.ShapeDtypeStruct(bench.input_shape(config, 1), jnp.uint8)
  fn = jax.jit(lambda s, x: nnx.merge(gd, s)(model_inputs(x, config))["logits"])
  return bench._flops(fn.lower(state, x))


def sizes() -> list[dict]:
  from test_xstft import xstft_param_count
  rows = []
  for net in ("st", "s", "t", "fact_dw", "relpv", "i3d", "s3d"):
    row = {"net": net}
    for frames in (16, 32, 64):
      c = config_lib.load(f"{CONFIG}:ssv1,net={net},frames={frames}")
      row[f"flops_{frames}"] = eval_flops(c)  # = bench_config's model_flops_per_sample
      if frames == 16:
        from flax import nnx
        from actionjax.models import registry
        abstract = nnx.eval_shape(lambda: registry.create(c, rngs=nnx.Rngs(0)))
        row["params"] = int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(abstract, nnx.Param))))
        row["analytic_params"] = xstft_param_count(c)
    row["dense_flops_16"] = bench.dense_flops(config_lib.load(f"{CONFIG}:ssv1,net={net}"))
    ref = TABLE2[net]
    row["table2"] = {"params_M": ref[0], "flops_G": dict(zip((16, 32, 64), ref[1:]))}
    row["params_vs_table2"] = row["params"] / (ref[0] * 1e6) - 1
    row["flops16_vs_table2"] = row["flops_16"] / (ref[1] * 1e9) - 1 if ref[1] else None
    row["dense_flops16_vs_table2"] = row["dense_flops_16"] / (ref[1] * 1e9) - 1 if ref[1] else None
    print(json.dumps(row), flush=True)
    rows.append(row)
  return rows


def _median(fn, steps: int) -> float:
  fn()
  ts = []
  for _ in range(steps):
    t = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - t)
  return float(np.median(ts))


def step(steps: int = 5, stages_too: bool = False) -> dict:
  import torch
  from flax import nnx
  from actionjax.export import xstft as export
  from actionjax.models import registry
  c = config_lib.load(f"{CONFIG}:ssv1,net=t")
  jax_r = bench.bench_config(c.copy_and_resolve_references(), batch_size=4, steps=steps)
  # PyTorch mirror: train mode, CE loss, backward, SGD with dampening 0.9
  tm = export.torch_model(c).train()
  opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9, dampening=0.9, weight_decay=1e-3)
  rng = np.random.default_rng(0)
  x = torch.from_numpy(rng.normal(size=(4, 16, 112, 112, 3)).astype(np.float32))
  y = torch.from_numpy(rng.integers(0, 174, 4))

  def torch_step():
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(tm(x), y)
    loss.backward()
    opt.step()
  torch_s = _median(torch_step, steps)

  out = {"jax_train_step_s": jax_r["train_step_s"], "torch_train_step_s": torch_s,
         "jax_over_torch": jax_r["train_step_s"] / torch_s, "jax_compile_s": jax_r["train_compile_s"],
         "bench_parameters": jax_r["parameters"], "bench_model_flops_per_sample": jax_r["model_flops_per_sample"],
         "bench_train_flops_per_sample": jax_r["train_flops_per_sample"],
         "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg(),
         "batch": 4, "frames": 16, "image_size": 112, "classes": 174}
  print(json.dumps(out), flush=True)
  if not stages_too:
    return out
  # per-stage forward + backward (train-mode BN), JAX jitted vs torch
  model = registry.create(c, rngs=nnx.Rngs(0))
  stages = {"stem": (0, 0), "3b-3c": (0, 2), "4b-4f": (2, 7), "5b-5c": (7, 9)}
  breakdown = {}
  from actionjax.models.xstft import max_pool
  from actionjax.export.torch_models.xstft import max_pool as tmax_pool
  with torch.no_grad():
    tm.eval()
    feats_t = [x.permute(0, 4, 1, 2, 3).contiguous()]
    h = feats_t[0]
    h = tm.stem[2](tm.stem[1](tmax_pool(tm.stem[0](h), (1, 3, 3), (1, 2, 2))))
    h = tmax_pool(h, (1, 3, 3), (1, 2, 2))
    feats_t.append(h)
    for i, m in enumerate(tm.inception):
      h = m(h)
      if i in tm.pools:
        h = tmax_pool(h, tm.pools[i], (2, 2, 2))
      if i in (1, 6):
        feats_t.append(h)
    tm.train()
  inputs_t = {"stem": feats_t[0], "3b-3c": feats_t[1], "4b-4f": feats_t[2], "5b-5c": feats_t[3]}
  pools = dict(zip(model.s["pool_after"], model.s["pool_windows"]))

  def jax_stage(name, m, inp):
    if name == "stem":
      h = m.stem[0](inp, True)
      h = max_pool(h, (1, 3, 3), (1, 2, 2))
      return max_pool(m.stem[2](m.stem[1](h, True), True), (1, 3, 3), (1, 2, 2))
    lo, hi = stages[name]
    for i in range(lo, hi):
      inp = m.inception[i](inp, True)
      if i in pools:
        inp = max_pool(inp, pools[i], (2, 2, 2))
    return inp

  def torch_stage(name, inp):
    if name == "stem":
      h = tmax_pool(tm.stem[0](inp), (1, 3, 3), (1, 2, 2))
      return tmax_pool(tm.stem[2](tm.stem[1](h)), (1, 3, 3), (1, 2, 2))
    lo, hi = stages[name]
    for i in range(lo, hi):
      inp = tm.inception[i](inp)
      if i in tm.pools:
        inp = tmax_pool(inp, tm.pools[i], (2, 2, 2))
    return inp

  for name in stages:
    ti = inputs_t[name].clone().requires_grad_(name != "stem")
    ji = jnp.asarray(ti.detach().permute(0, 2, 3, 4, 1).numpy())

    @nnx.jit(static_argnums=0)
    def fb(name, m, inp):
      return nnx.grad(lambda m, inp: jax_stage(name, m, inp).sum(), argnums=(0, 1))(m, inp)

    jax_s = _median(lambda: jax.block_until_ready(fb(name, model, ji)), steps)

    def tfb():
      tm.zero_grad(set_to_none=True)
      torch_stage(name, ti).sum().backward()
    breakdown[name] = {"jax_s": jax_s, "torch_s": _median(tfb, steps)}
    print(name, breakdown[name], flush=True)
  out["stages_fwd_bwd"] = breakdown
  print(json.dumps(out), flush=True)
  return out


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--sizes", action="store_true")
  p.add_argument("--step", action="store_true")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--stages", action="store_true", help="with --step: per-stage fwd+bwd breakdown")
  p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "xstft_step.json"))
  a = p.parse_args()
  result = {"jax": jax.__version__, "device": jax.devices()[0].device_kind}
  if a.sizes or not a.step:
    result["sizes"] = sizes()
  if a.step or not a.sizes:
    result["step"] = step(a.steps, a.stages)
  result["load_average_end"] = os.getloadavg()
  os.makedirs(os.path.dirname(a.out), exist_ok=True)
  with open(a.out, "w") as f:
    json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
