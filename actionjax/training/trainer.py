"""The one training loop every model shares (big_vision style): input -> global batch -> jitted
step with explicit shardings and donated state -> logs, checkpoints, evaluation.

Exact resume: the checkpoint holds the whole TrainState and the input pipeline's position, and
every random number is folded from (seed, step), so N steps + restart + N steps equal 2N straight.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from actionjax import scoring
from actionjax.config import ConfigDict, validate
from actionjax.training import checkpoint as ckpt_lib
from actionjax.training import setup as setup_lib
from actionjax.training import sharding
from actionjax.training.step import make_eval_step, make_train_step
from actionjax.training.writer import Writer

NAME_BYTES = 96  # sample names travel to other processes as fixed-width bytes during evaluation


class TrainError(RuntimeError):
  """A run that cannot go on; the message says why and what to do."""


def process_batch_size(global_batch: int) -> int:
  if global_batch % jax.process_count():
    raise TrainError(f"batch {global_batch} is not divisible by the {jax.process_count()} processes")
  return global_batch // jax.process_count()


def make_pipeline(config: ConfigDict, split: str, *, train: bool, batch_size: int, num_clips: int = 1):
  """The data pipeline for this process (data_pipelines.input), generating demo data if asked."""
  from data_pipelines import input as input_lib
  if config.data.synthetic:
    from data_pipelines import demo_data
    demo_data.ensure_data(config)
  return input_lib.make(config, split, train=train, batch_size=process_batch_size(batch_size),
                       seed=config.seed, num_clips=num_clips,
                       process_index=jax.process_index(), process_count=jax.process_count())


def resolve_num_classes(config: ConfigDict, info: dict) -> None:
  n = int(info.get("num_classes", 0))
  if config.model.num_classes == 0:
    config.model.num_classes = n
  elif n and config.model.num_classes > n:
    raise TrainError(f"model.num_classes={config.model.num_classes} but the data in {config.data.dir}"
                     f" has {n} classes; set --config.model.num_classes={n}")


def resolve_depth_max(config: ConfigDict, info: dict) -> None:
  """Video with depth: data.depth_max = 0 takes the dataset's value (NTU mm, 8-bit 255)."""
  from data_pipelines.video_records import modalities_of
  if "depth" in modalities_of(config.data.modalities) and config.data.depth_max <= 0:
    if not info.get("depth_max"):
      raise TrainError(f"{config.data.dir}/dataset_info.json has no depth_max; set"
                       " --config.data.depth_max (the depth value that maps to 1.0)")
    config.data.depth_max = float(info["depth_max"])


def epoch_steps(config: ConfigDict, num_examples: int) -> int:
  """Steps per epoch: data.repeat passes over `num_examples` at the global batch size."""
  return max(1, num_examples * config.data.repeat // config.train.batch_size)


def save_config(config: ConfigDict, workdir: str) -> None:
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2))


def model_meta(config: ConfigDict) -> dict:
  return {"model": config.model.name, "num_classes": int(config.model.num_classes)}


def check_compatible(meta: dict, config: ConfigDict, where: str) -> None:
  want = model_meta(config)
  got = {k: meta.get(k) for k in want}
  if got != want:
    raise TrainError(f"{where} holds a checkpoint of model {got['model']!r} with {got['num_classes']} classes,"
                     f" but the config builds {want['model']!r} with {want['num_classes']}; use another --workdir"
                     " (or init.checkpoint to fine-tune from it)")


def encode_names(names) -> np.ndarray:
  out = np.zeros((len(names), NAME_BYTES), np.uint8)
  for i, n in enumerate(names):
    b = n if isinstance(n, bytes) else str(n).encode()
    out[i, :len(b[:NAME_BYTES])] = np.frombuffer(b[:NAME_BYTES], np.uint8)
  return out


def decode_names(codes: np.ndarray) -> list[str]:
  return [bytes(row).rstrip(b"\0").decode() for row in codes]


def eval_logits(setup: setup_lib.Setup, state, pipeline, use_ema: bool):
  """(names, labels, logits) over one pass of an eval pipeline, clips averaged, all processes."""
  mesh = setup.mesh
  jitted = setup.eval_fns.get(use_ema)
  if jitted is None:
    step = make_eval_step(setup.graphdef, setup.config, use_ema)
    rep = sharding.replicated(mesh)

    def fn(state, inputs, label, valid, codes):
      return step(state, inputs), label, valid, codes

    jitted = setup.eval_fns[use_ema] = jax.jit(fn, out_shardings=(rep, rep, rep, rep))
  names, labels, logits = [], [], []
  with jax.set_mesh(mesh):
    for batch in pipeline:
      local = {"inputs": batch["inputs"], "label": batch["label"], "valid": batch["valid"],
               "codes": encode_names(batch["name"])}
      g = sharding.global_batch(local, mesh)
      out = jax.device_get(jitted(state, g["inputs"], g["label"], g["valid"], g["codes"]))
      valid = np.asarray(out[2], bool)
      names.extend(decode_names(out[3][valid]))
      labels.append(out[1][valid])
      logits.append(out[0][valid])
  if not names:
    raise TrainError("the evaluation split yielded no samples")
  return scoring.aggregate_clips(names, np.concatenate(labels), np.concatenate(logits))


def use_label_subset(config: ConfigDict, workdir: str) -> None:
  """Points data.dir at a per-class `data.label_fraction` subset of the training labels, made once
  in the workdir (its names in `label_subset/subset_names.txt`); evaluation uses the full test split."""
  from data_pipelines import subset
  if config.data.synthetic:
    from data_pipelines import demo_data
    demo_data.ensure_data(config)
    config.data.synthetic = ""
  out = os.path.join(workdir, "label_subset")
  if jax.process_index() == 0:
    subset.make_label_subset(config.data.dir, config.data.protocol, config.data.train_split,
                             config.data.label_fraction, config.seed, out)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices("label_subset")
  config.data.dir, config.data.label_fraction = out, 1.0


class _Preemption:
  """Turns SIGTERM into a flag the loop checks after each step (save, then exit 0)."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread: no signal handling
      self._previous = None
    return self

  def _handle(self, signum, frame):
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def train(config: ConfigDict, workdir: str, *, quiet: bool = False, devices=None, stop_at: int | None = None) -> dict:
  """Trains `config` in `workdir`, resuming from its latest checkpoint when there is one.

  `devices` restricts the mesh (default: all); `stop_at` saves and stops after that step as a
  preemption would (the schedule still spans `train.num_steps`)."""
  devices = jax.devices() if devices is None else list(devices)
  validate(config, len(devices))
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh(config, devices)
  t = config.train
  if config.data.label_fraction < 1.0:
    use_label_subset(config, workdir)

  pipeline = make_pipeline(config, config.data.train_split, train=True, batch_size=t.batch_size)
  resolve_num_classes(config, pipeline.info)
  resolve_depth_max(config, pipeline.info)
  steps_per_epoch = epoch_steps(config, pipeline.num_examples)
  total_steps = t.num_steps or int(round(t.num_epochs * steps_per_epoch))
  setup = setup_lib.build(config, mesh, steps_per_epoch=steps_per_epoch, total_steps=total_steps)
  save_config(config, workdir)

  ckpt = ckpt_lib.Checkpointer(workdir, keep=t.keep_checkpoints, best_metric=t.best_metric if t.eval_every_steps else "")
  writer = profiler = None
  try:
    restored = None
    if ckpt.latest_step() is not None:
      check_compatible(ckpt.read_meta(ckpt.latest_step()), config, workdir)
      restored = ckpt.restore(setup.abstract_state, "latest")
    if restored is not None:
      start, state, meta = restored
      pipeline.set_state(meta["input"])
      messages = [f"resumed from {ckpt.directory} at step {start}"]
    else:
      state = setup_lib.init_state(setup)
      messages = []
      if config.init.checkpoint:
        src = ckpt_lib.Checkpointer(config.init.checkpoint, read_only=True)
        _, raw, meta = src.restore_raw("latest")
        state, messages = setup_lib.load_init_params(setup, state, raw["params"], config.init.checkpoint)
    start = int(jax.device_get(state.step))

    train_step = jax.jit(make_train_step(setup.graphdef, config, setup.tx, setup.lr, setup.uses_ema),
                         in_shardings=(setup.state_shardings, sharding.batch_sharding(mesh)),
                         out_shardings=(setup.state_shardings, sharding.replicated(mesh)),
                         donate_argnums=(0,))
    writer = Writer(workdir, total_steps, start, quiet=quiet)
    for m in messages:
      writer.print(m)
    use_ema = t.ema_decay > 0 and not setup.uses_ema

    def save(step, state, metrics=None):
      ckpt.save(step, state, {**model_meta(config), "input": pipeline.get_state(), "step": step}, metrics)

    def check_finite(state):
      bad = int(jax.device_get(state.bad_step))
      if bad >= 0:
        last = ckpt.latest_step()
        raise TrainError(f"loss or gradients became NaN/Inf at step {bad}; training stopped and nothing was"
                         f" saved after it (last good checkpoint: {last if last is not None else 'none'})."
                         " Lower schedule.base_lr, enable optimizer.clip_norm, or check the data.")

    profiler = StepProfiler(t.profile_steps, os.path.join(workdir, "profile"), writer)
    result: dict[str, Any] = {"stopped_by": "end"}
    step = start
    it: Iterator[dict] = iter(pipeline)
    window = MetricWindow()
    with _Preemption() as preempt, jax.set_mesh(mesh):
      while step < total_steps:
        batch = sharding.global_batch(next(it), mesh)
        profiler.before(step + 1)
        state, metrics = train_step(state, batch)
        step += 1
        window.add(metrics)
        profiler.after(step, state)
        writer.step()
        if step % t.log_every_steps == 0 or step == total_steps:
          check_finite(state)
          result["train"] = writer.write(step, window.pop(), batch_size=t.batch_size)
        eval_now = t.eval_every_steps and (step % t.eval_every_steps == 0 or step == total_steps)
        stopping = preempt.requested or step == stop_at
        if step % t.checkpoint_every_steps == 0 or step == total_steps or eval_now or stopping:
          check_finite(state)
          metrics_eval = None
          if eval_now:
            t0 = time.perf_counter()
            metrics_eval = run_eval(setup, state, config, config.data.eval_split, use_ema=use_ema)
            writer.write(step, {**metrics_eval, "seconds": time.perf_counter() - t0}, prefix="eval")
            result["eval"] = metrics_eval
          save(step, state, metrics_eval)
          writer.restart_clock(step)  # train samples_per_s counts training steps only
        if preempt.requested:
          writer.print(f"SIGTERM: saved a checkpoint at step {step} in {ckpt.directory}; exiting")
          result["stopped_by"] = "sigterm"
          break
        if step == stop_at:
          result["stopped_by"] = "stop_at"
          break
    result["step"] = step
    result["state"] = state
    return result
  finally:
    if profiler is not None:
      profiler.close()
    ckpt.close()
    if writer is not None:
      writer.close()


class MetricWindow:
  """Means of the train-step metrics since the last log (the logged loss is the window's mean,
  not one batch's; `lr` is the last step's); summed on the device so that no step waits."""

  def __init__(self):
    self.total, self.last, self.count = None, None, 0

  def add(self, metrics: dict) -> None:
    self.total = metrics if self.total is None else jax.tree.map(jnp.add, self.total, metrics)
    self.last, self.count = metrics, self.count + 1

  def pop(self) -> dict:
    total, last = jax.device_get((self.total, self.last))
    means = {k: np.asarray(v) / self.count for k, v in total.items()}
    if "lr" in last:
      means["lr"] = last["lr"]
    self.total, self.last, self.count = None, None, 0
    return means


class StepProfiler:
  """A jax.profiler trace of train steps a..b (`train.profile_steps`) into `directory` (XProf's
  .xplane.pb for TensorBoard, and perfetto_trace.json.gz); the last step is waited for, so its
  device work is inside the trace."""

  def __init__(self, steps, directory: str, writer):
    self.first, self.last = tuple(steps) if steps else (0, -1)
    self.directory, self.writer, self.active = directory, writer, False

  def before(self, step: int) -> None:
    if step == self.first:
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True)
      self.active = True

  def after(self, step: int, state) -> None:
    if self.active and step == self.last:
      jax.block_until_ready(state)
      self.close()
      self.writer.print(f"profile of steps {self.first}-{self.last}: {self.directory}"
                        f" (tensorboard --logdir {self.directory}, or Perfetto)")

  def close(self) -> None:
    if self.active:
      jax.profiler.stop_trace()
      self.active = False


def run_eval(setup: setup_lib.Setup, state, config: ConfigDict, split: str, *, use_ema: bool,
             num_clips: int | None = None) -> dict:
  pipeline = make_pipeline(config, split, train=False, batch_size=config.train.eval_batch_size or config.train.batch_size,
                           num_clips=num_clips or config.data.num_clips)
  names, labels, logits = eval_logits(setup, state, pipeline, use_ema)
  m = scoring.compute_metrics(logits, labels)
  m.pop("confusion")
  return m
