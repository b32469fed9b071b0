"""`actionjax bench`: steady-state train/eval step throughput, compile time, peak host memory,
parameter count and model FLOPs (XLA cost analysis) on random inputs of the config's shape."""
from __future__ import annotations

import json
import os
import platform
import resource
import time

import jax
import numpy as np

from actionjax import config as config_lib
from actionjax import host_memory
from actionjax.training import setup as setup_lib
from actionjax.training import sharding
from actionjax.training.step import make_eval_step, make_train_step


def input_shape(config, batch: int) -> tuple[int, ...]:
  d = config.data
  if d.modalities:  # video: (B, T, S, S, C)
    from actionjax.training.video_inputs import input_channels
    return (batch, d.num_frames, d.image_size, d.image_size, input_channels(config))
  return (batch, d.max_persons, d.num_frames, d.num_joints, d.channels)


def random_inputs(config, batch: int, rng: np.random.Generator) -> np.ndarray:
  """Inputs as the pipeline yields them: float32 skeletons; uint8 / uint16 video frames."""
  shape = input_shape(config, batch)
  if not config.data.modalities:
    return rng.standard_normal(shape).astype(np.float32)
  if config.data.depth_max <= 0:
    config.data.depth_max = 4500.0  # no dataset to read it from: NTU's millimetre scale
  dtype = np.uint8 if shape[-1] == 3 else np.uint16
  return rng.integers(0, 256, shape).astype(dtype)


def _flops(lowered) -> float:
  """Whole-batch model FLOPs: XLA's count on the lowered program, before partitioning (a compiled
  program reports one partition's) and before fusion."""
  cost = lowered.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", 0.0)) if cost else 0.0


def _instructions(compiled) -> int:
  """Instructions in the optimised program (its text has one per line, besides headers): compile
  time grows with it, and a blow-up points at XLA copying a computation into many fusions."""
  return sum(1 for line in compiled.as_text().splitlines() if " = " in line)


def _loop_free(config):
  """The config to count FLOPs on, or None for `config` itself. XLA's cost analysis counts a loop
  body once, so a model with a looped attention form (config.model.attention) is counted in its
  batched form: the same parameters and numbers, no loop."""
  if config.model.get("attention", "batched") == "batched":
    return None
  counted = config.copy_and_resolve_references()
  counted.model.attention = "batched"
  return counted


def dense_flops(config) -> float:
  """Forward FLOPs per sample as papers count them: 2 x multiply-adds of every convolution
  (padding taps included) and matrix product, summed over the model's jaxpr. XLA's cost analysis
  (`model_flops_per_sample`) counts only kernel taps that land inside the input and adds
  elementwise work, so the two differ where feature maps are small. Grouped convolutions are
  counted in their convolution form (`model.depthwise=conv`)."""
  from flax import nnx
  from actionjax.models import registry
  config = (_loop_free(config) or config).copy_and_resolve_references()
  if "depthwise" in config.model:
    config.model.depthwise = "conv"
  model = nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(model)
  x = jax.ShapeDtypeStruct(input_shape(config, 1), np.float32)  # the model's (normalised) input
  jaxpr = jax.make_jaxpr(lambda s, x: nnx.merge(graphdef, s)(x)["logits"])(state, x).jaxpr

  def walk(jx) -> float:
    total = 0.0
    for eqn in jx.eqns:
      out = eqn.outvars[0].aval.shape if eqn.outvars else ()
      if eqn.primitive.name == "conv_general_dilated":
        kernel = eqn.invars[1].aval.shape  # spatial dims, I / groups, O
        out_features = eqn.params["dimension_numbers"].rhs_spec[0]
        taps = np.prod([d for i, d in enumerate(kernel) if i != out_features])
        total += 2.0 * np.prod(out) * taps
      elif eqn.primitive.name == "dot_general":
        (contract, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        total += 2.0 * np.prod(out) * np.prod([lhs[i] for i in contract])
      for param in eqn.params.values():
        inner = getattr(param, "jaxpr", param)
        if hasattr(inner, "eqns"):
          total += walk(inner)
    return total

  return float(walk(jaxpr))


def _time(fn, steps: int) -> float:
  """Median seconds per call over `steps` calls (after one warm-up call)."""
  jax.block_until_ready(fn())
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def bench_config(config, *, batch_size: int | None = None, steps: int = 10) -> dict:
  """Measures one config; returns a JSON-able dict."""
  if batch_size:
    config.train.batch_size = batch_size
  if not config.model.num_classes:
    config.model.num_classes = 60
  config_lib.validate(config, jax.device_count())
  b = config.train.batch_size
  mesh = sharding.make_mesh(config)
  setup = setup_lib.build(config, mesh, steps_per_epoch=1000, total_steps=100000)
  t = time.perf_counter()
  state = setup_lib.init_state(setup)
  init_s = time.perf_counter() - t  # compile-bound: the parameters' random draws
  n_params = int(sum(np.prod(x.shape) for x in jax.tree.leaves(state.params)))
  rng = np.random.default_rng(0)
  local = {"inputs": random_inputs(config, b, rng),
           "label": rng.integers(0, config.model.num_classes, b).astype(np.int32)}
  batch = sharding.global_batch(local, mesh)

  train_step = jax.jit(make_train_step(setup.graphdef, config, setup.tx, setup.lr, setup.uses_ema),
                       in_shardings=(setup.state_shardings, sharding.batch_sharding(mesh)),
                       out_shardings=(setup.state_shardings, sharding.replicated(mesh)), donate_argnums=(0,))
  eval_step = jax.jit(make_eval_step(setup.graphdef, config, use_ema=False),
                      in_shardings=(setup.state_shardings, sharding.batch_sharding(mesh)))
  with jax.set_mesh(mesh):
    t = time.perf_counter()
    train_lowered = train_step.lower(state, batch)
    train_compiled = train_lowered.compile()
    train_compile_s = time.perf_counter() - t
    has_logits = not config.loss.name == "model"
    if has_logits:
      t = time.perf_counter()
      eval_lowered = eval_step.lower(state, batch["inputs"])
      eval_compiled = eval_lowered.compile()
      eval_compile_s = time.perf_counter() - t
    holder = {"state": state}

    def one_train():
      holder["state"], metrics = train_compiled(holder["state"], batch)
      return metrics["loss"]

    train_s = _time(one_train, steps)
    eval_s = _time(lambda: eval_compiled(holder["state"], batch["inputs"]), steps) if has_logits else None

    counted = _loop_free(config)
    if counted is not None:
      alt = setup_lib.build(counted, mesh, steps_per_epoch=1000, total_steps=100000)
      train_lowered = jax.jit(make_train_step(alt.graphdef, counted, alt.tx, alt.lr, alt.uses_ema)).lower(
          holder["state"], batch)
      if has_logits:
        eval_lowered = jax.jit(make_eval_step(alt.graphdef, counted, use_ema=False)).lower(
            holder["state"], batch["inputs"])
    train_flops = _flops(train_lowered)
    eval_flops = _flops(eval_lowered) if has_logits else 0.0
  out = {
      "model": config.model.name, "batch_size": b, "input_shape": list(input_shape(config, b)),
      "dtype": config.train.dtype, "devices": jax.device_count(), "platform": jax.devices()[0].platform,
      "device_kind": jax.devices()[0].device_kind, "host": platform.node(), "parameters": n_params,
      "init_s": init_s, "train_step_s": train_s, "train_samples_per_s": b / train_s,
      "train_compile_s": train_compile_s, "train_hlo_instructions": _instructions(train_compiled),
      "train_flops_per_sample": train_flops / b, "train_achieved_flops_per_s": train_flops / train_s,
      "peak_host_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }
  if has_logits:
    out.update({"eval_step_s": eval_s, "eval_samples_per_s": b / eval_s, "eval_compile_s": eval_compile_s,
                "model_flops_per_sample": eval_flops / b, "eval_achieved_flops_per_s": eval_flops / eval_s,
                "model_dense_flops_per_sample": dense_flops(config)})
  return out


def run_bench(config_spec: str, overrides=(), *, batch_size: int | None = None, steps: int = 10,
              out: str | None = None) -> dict:
  config = config_lib.load(config_spec, overrides)
  host_memory.apply(config)  # before JAX starts its threads
  result = bench_config(config, batch_size=batch_size, steps=steps)
  result["config"] = config_spec
  text = json.dumps(result, indent=2)
  print(text)
  if out:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
      f.write(text + "\n")
  return result
