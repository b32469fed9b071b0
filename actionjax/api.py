"""The Python API: the CLI's train / evaluate / load as functions for notebooks and scripts, on the
same code paths (`actionjax train` calls `train` below). Progress shows as a tqdm bar, a widget in
Jupyter and Colab. Exports: `actionjax.export.to_torch(workdir)`, `actionjax.export.to_onnx(...)`."""
from __future__ import annotations

import os
from typing import Any

from actionjax import logs


def _override_items(overrides: dict[str, Any]) -> list[str]:
  """Keyword overrides -> the CLI's `a.b=v` strings (a double underscore stands for a dot, so
  `train__num_steps=10` and `**{"train.num_steps": 10}` are the same override)."""
  items = []
  for key, value in overrides.items():
    text = value if isinstance(value, str) else repr(value)
    items.append(f"{key.replace('__', '.')}={text}")
  return items


def make_config(spec, **overrides):
  """A ConfigDict from a spec `configs/<model>.py:<variant>[,key=value]` (or a ConfigDict, copied)
  with keyword overrides applied and validated; unknown keys raise ConfigError naming the key."""
  from actionjax import config as config_lib
  items = _override_items(overrides)
  if isinstance(spec, str):
    return config_lib.load(spec, items)
  c = spec.copy_and_resolve_references()
  config_lib.apply_overrides(c, items)
  return c


def train(config_or_spec, workdir: str, *, quiet: bool = False, devices=None, **overrides) -> dict:
  """Trains `config_or_spec` in `workdir` (resuming exactly from a checkpoint there), as
  `actionjax train` does. Returns {"workdir", "step", "stopped_by", "train": last logged train
  metrics, "eval": last evaluation (when train.eval_every_steps is set)}.

      actionjax.train("configs/fgstformer.py:demo", "runs/demo", train__num_steps=200)
  """
  from actionjax import host_memory
  c = make_config(config_or_spec, **overrides)
  host_memory.apply(c)  # before JAX's thread pools start (a no-op once they have)
  from actionjax.training import trainer
  with logs.quiet_absl():
    result = trainer.train(c, workdir, quiet=quiet, devices=devices)
  result.pop("state")
  return {"workdir": os.path.abspath(workdir), **result}


def evaluate(workdir: str, *, split: str | None = None, checkpoint: str | int = "latest",
             num_clips: int | None = None, viz: bool = False, **overrides) -> dict:
  """`actionjax evaluate`: top1, top5, mean_class_accuracy, num_samples, step, ... of a checkpoint
  on `split` (default: the config's eval split); writes metrics.json, confusion.npy / .png and
  scores.npz (and with `viz` the figures of actionjax.viz) into `out_dir`, also returned."""
  from actionjax.eval_cli import evaluate_workdir
  with logs.quiet_absl():
    return evaluate_workdir(workdir, split=split, checkpoint=checkpoint, num_clips=num_clips,
                            overrides=_override_items(overrides), viz=viz)


_JITTED: dict = {}


def _jit_once(fn, **kwargs):
  """`nnx.jit(fn, **kwargs)`, made once per function and options so that its compile cache lives on
  (shared with viz)."""
  key = (fn, tuple(sorted(kwargs.items())))
  if key not in _JITTED:
    from flax import nnx
    _JITTED[key] = nnx.jit(fn, **kwargs)
  return _JITTED[key]


def _logits(model, x):
  return model(x)["logits"]


def predict(model, inputs):
  """`model(inputs)["logits"]` as a numpy array, the forward compiled as one program. Calling a
  model directly runs it eagerly, which compiles each operation on its own (20 s under load for
  the notebook's small FG-STFormer)."""
  import numpy as np
  return np.asarray(_jit_once(_logits)(model, np.asarray(inputs, np.float32)))


def load(workdir: str, checkpoint: str | int = "latest"):
  """`(model, config)` restored from a training workdir, the model in eval mode with host-resident
  float32 weights: `model(x)["logits"]`, or `predict(model, x)` compiled."""
  from actionjax import workdir as workdir_lib
  with logs.quiet_absl():
    return workdir_lib.load(workdir, checkpoint)
