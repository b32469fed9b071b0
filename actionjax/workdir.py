"""Reading a run back from its workdir: the saved config, the restored state, the model."""
from __future__ import annotations

import json
import os

import jax
import ml_collections
from flax import nnx

from actionjax.config import ConfigDict
from actionjax.training import checkpoint as ckpt_lib
from actionjax.training import setup as setup_lib
from actionjax.training import sharding


class WorkdirError(RuntimeError):
  pass


def load_config(workdir: str) -> ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise WorkdirError(f"{workdir} holds no config.json: is it a workdir written by `actionjax train`?")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def restore(workdir: str, checkpoint: str | int = "latest", config: ConfigDict | None = None):
  """(setup, state, step, config) for a trained workdir, on a mesh over all local devices."""
  config = load_config(workdir) if config is None else config
  mesh = sharding.make_mesh(config) if jax.device_count() > 1 else sharding.make_mesh(
      ConfigDict({"mesh": {"data": 1, "model": 1}}))
  setup = setup_lib.build(config, mesh)
  ckpt = ckpt_lib.Checkpointer(workdir, read_only=True, best_metric=config.train.best_metric)
  try:
    if ckpt.latest_step() is None:
      raise WorkdirError(f"{workdir} has no checkpoint yet; train first (actionjax train --workdir {workdir})")
    from actionjax.training.trainer import check_compatible
    check_compatible(ckpt.read_meta(ckpt.resolve(checkpoint)), config, workdir)
    step, state, _ = ckpt.restore(setup.abstract_state, checkpoint)
  finally:
    ckpt.close()
  return setup, state, step, config


def model_from_state(setup, state, use_ema: bool | None = None) -> nnx.Module:
  if use_ema is None:
    use_ema = setup.config.train.ema_decay > 0 and not setup.uses_ema
  params = state.ema if use_ema else state.params
  return nnx.merge(setup.graphdef, jax.device_get(params), jax.device_get(state.rest))


def load(workdir: str, checkpoint: str | int = "latest"):
  """`(model, config)` restored from `workdir`, in eval mode (call it with `train=False`, the
  default), with host-resident float32 weights."""
  setup, state, _, config = restore(workdir, checkpoint)
  model = model_from_state(setup, state)
  model.eval()
  return model, config
