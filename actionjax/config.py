"""Run configs: the base every `configs/<model>.py` extends, loading `file.py:variant`, command-line
overrides and validation before anything compiles.

Configs are ml_collections ConfigDicts built by `get_config(arg)` (the big_vision way). Every config
carries the keys below; tools and tests rely on them.
"""
from __future__ import annotations

import ast
import importlib.util
import os
from typing import Any, Sequence

import ml_collections

ConfigDict = ml_collections.ConfigDict


class ConfigError(ValueError):
  """A config that cannot run; the message names the key and the fix."""


def base_config() -> ConfigDict:
  """The keys every run config has; model configs override values, never add top-level keys."""
  c = ConfigDict()
  c.seed = 0
  c.model = ConfigDict({"name": "", "num_classes": 0})
  c.data = ConfigDict({
      "dir": "",                # prepared records (`actionjax prepare ... --out_dir`)
      "dataset": "",            # ntu60 | ntu120 | nwucla | kinetics_skeleton | ...
      "protocol": "",           # xsub | xview | xset | '' (datasets with one split)
      "train_split": "train",
      "eval_split": "test",
      "num_frames": 64,
      "max_persons": 2,
      "num_joints": 25,
      "channels": 3,
      "stream": "joint",        # joint | bone | joint_motion | bone_motion
      "normalize": "ctrgcn",    # ctrgcn | pyskl | nwucla | none
      "sampling": "crop_resize",  # crop_resize | uniform
      "crop_ratio": (0.5, 1.0),
      "test_crop_ratio": 0.95,
      "rotation": 0.3,          # radians, uniform in [-r, r] about each of rotation_axes at train time; 0 = off
      "rotation_axes": "xyz",   # xyz (CTR-GCN random_rot) | xy (CTR-GCN's NW-UCLA view transform)
      "scale": 0.0,             # NW-UCLA: uniform scale in [1 - s, 1 + s]; 0 = off
      "minmax": False,          # after the geometry, each coordinate axis to [-1, 1] over the sequence
      "repeat": 1,              # passes over the train split per epoch (CTR-GCN's NW-UCLA feeder: 5)
      "num_clips": 1,           # test clips averaged per sample
      "shuffle_buffer": 2048,
      "synthetic": "",          # demo configs: generate synthetic raw data into data.dir if empty
      "label_fraction": 1.0,    # < 1: train on a deterministic per-class subset (semi-supervised)
      # Video (docs/video_data.md); num_frames and num_clips above apply too.
      "modalities": (),         # ('rgb',), ('depth',) or ('rgb', 'depth'); () = skeleton data
      "image_size": 112,        # crop side fed to the model (S x S)
      "flip": False,            # random horizontal flips; off for gestures (mirror-pair classes)
      "crop_scales": (1.0, 2 ** -0.25, 2 ** -0.75, 0.5),  # multi-scale crop, x the short side (TSN)
      "max_distort": 1,         # crop height / width scale indices differ by at most this
      "rgb_mean": (0.485, 0.456, 0.406),  # ImageNet statistics (the I3D / TSN families' inputs)
      "rgb_std": (0.229, 0.224, 0.225),
      "depth_max": 0.0,         # depth value that maps to 1.0; 0 = the dataset's (dataset_info.json)
      "depth_mean": 0.5,        # after scaling by depth_max
      "depth_std": 0.5,
  })
  c.train = ConfigDict({
      "batch_size": 32,         # global, over all processes and devices
      "num_steps": 0,           # 0 = derive from num_epochs and the train split size
      "num_epochs": 0.0,
      "checkpoint_every_steps": 1000,
      "keep_checkpoints": 3,
      "eval_every_steps": 0,    # 0 = only at the end
      "best_metric": "top1",
      "log_every_steps": 50,
      "dtype": "float32",       # float32 | bfloat16 (compute dtype; params stay float32)
      "fsdp": False,            # shard parameters and optimizer state on the data axis
      "grad_accum_steps": 1,
      "ema_decay": 0.0,         # > 0 keeps an EMA of the parameters
      "label_smoothing": 0.0,
      "mixup_alpha": 0.0,
      "eval_batch_size": 0,     # 0 = train.batch_size
      # glibc keeps freed memory (actionjax/host_memory.py): pays off for steps with GBs of XLA
      # temporaries (FD-MAE pre-training: 1.8 GB), costs small-buffer models malloc contention.
      "keep_host_memory": False,
      # (a, b): a jax.profiler trace of steps a..b (1-based, inclusive) into <workdir>/profile,
      # for TensorBoard's profile tab or Perfetto; () = off. Keep a past the compile (a >= 2).
      "profile_steps": (),
  })
  c.optimizer = ConfigDict({
      "name": "sgd",            # sgd | adam | adamw
      "momentum": 0.9,
      "nesterov": True,
      "dampening": 0.0,         # SGD: torch.optim.SGD's (buf = mu*buf + (1-d)*g after the first step)
      "b1": 0.9,
      "b2": 0.999,
      "eps": 1e-8,
      "weight_decay": 0.0,
      "decay_mask": "no_norm_bias_embed",  # all | no_norm_bias_embed
      "clip_norm": 0.0,         # 0 = off
      "layer_decay": 0.0,       # layer-wise LR decay factor; 0 = off
      "freeze": "",             # regex of parameter paths kept fixed (linear probing)
  })
  c.schedule = ConfigDict({
      "name": "warmup_cosine",  # warmup_cosine | multistep | exponential | constant
      "base_lr": 0.1,
      "warmup_epochs": 0.0,
      "warmup_steps": 0,        # used when warmup_epochs is 0
      "boundaries_epochs": (),  # multistep: epochs where lr *= decay_factor
      "decay_factor": 0.1,
      "decay_rate": 1.0,        # exponential: lr *= decay_rate every epoch
      "end_lr_factor": 0.0,     # cosine end value as a fraction of base_lr
  })
  c.loss = ConfigDict({"name": "cross_entropy", "gamma": 2.0, "margin": 0.0})
  c.mesh = ConfigDict({"data": -1, "model": 1})
  c.init = ConfigDict({"checkpoint": "", "exclude": ""})
  return c


def load(spec: str, overrides: Sequence[str] = ()) -> ConfigDict:
  """Loads `path/to/config.py[:arg]`, applies `a.b=v` overrides and validates."""
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise ConfigError(f"config file {path!r} not found; pass --config configs/<model>.py:<variant>")
  mod_spec = importlib.util.spec_from_file_location(f"_actionjax_config_{abs(hash(path))}", path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  variants = getattr(module, "VARIANTS", None)
  if variants is not None and arg.split(",")[0] not in variants:
    raise ConfigError(f"unknown variant {arg!r} of {path}; variants: {', '.join(variants)}")
  config = module.get_config(arg) if arg else module.get_config()
  apply_overrides(config, overrides)
  config.data.dir = os.path.expanduser(config.data.dir)
  config.init.checkpoint = os.path.expanduser(config.init.checkpoint)
  return config


# Bare option names in `variant,key=value` args resolve to the first section that has the key.
_OPTION_SECTIONS = ("data", "model", "loss", "train", "optimizer", "schedule")


def parse_variant(arg: str, variants: Sequence[str]) -> tuple[str, list[str]]:
  """`variant[,key=value...]` -> (variant, options); unknown variants list the valid ones."""
  variant, *options = [s.strip() for s in arg.split(",") if s.strip()] or [variants[0]]
  if variant not in variants:
    raise ConfigError(f"unknown variant {variant!r}; variants: {', '.join(variants)}")
  return variant, options


def apply_options(config: ConfigDict, options: Sequence[str]) -> None:
  """Applies the `key=value` options of a variant arg: `stream=bone` (a bare key, looked up in
  data, model, loss, train, optimizer, schedule) or a dotted path `model.num_focal=9`."""
  items = []
  for opt in options:
    key, eq, value = opt.partition("=")
    if not eq:
      raise ConfigError(f"option {opt!r} must look like key=value")
    if "." not in key:
      section = next((s for s in _OPTION_SECTIONS if key in config[s]), None)
      if section is None:
        raise ConfigError(f"unknown option {key!r}: not a key of {', '.join(_OPTION_SECTIONS)}")
      key = f"{section}.{key}"
    items.append(f"{key}={value}")
  apply_overrides(config, items)


def _parse_value(text: str, current: Any) -> Any:
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  if isinstance(current, bool):
    if isinstance(value, str) and value.lower() in ("true", "false"):
      return value.lower() == "true"
    if not isinstance(value, bool):
      raise ConfigError(f"expected true/false, got {text!r}")
    return value
  if isinstance(current, float) and isinstance(value, int):
    return float(value)
  if isinstance(current, tuple) and isinstance(value, list):
    return tuple(value)
  if isinstance(current, tuple) and not isinstance(value, tuple):
    return (value,)
  if current is not None and not isinstance(value, type(current)):
    raise ConfigError(f"expected {type(current).__name__}, got {text!r}")
  return value


def apply_overrides(config: ConfigDict, overrides: Sequence[str]) -> None:
  """Applies `a.b=v` (or `--config.a.b=v`) strings; unknown keys raise, naming the key."""
  for item in overrides:
    item = item.removeprefix("--").removeprefix("config.")
    key, eq, text = item.partition("=")
    if not eq:
      raise ConfigError(f"override {item!r} must look like --config.{key}=VALUE")
    node, parts = config, key.split(".")
    for i, part in enumerate(parts):
      if not isinstance(node, ConfigDict) or part not in node:
        where = ".".join(parts[:i]) or "config"
        known = ", ".join(sorted(node.keys())) if isinstance(node, ConfigDict) else "(not a section)"
        raise ConfigError(f"unknown config key {key!r}: {where} has no {part!r}; known: {known}")
      if i < len(parts) - 1:
        node = node[part]
    try:
      node[parts[-1]] = _parse_value(text, node[parts[-1]])
    except ConfigError as e:
      raise ConfigError(f"config key {key!r}: {e}") from None


_CHOICES = {
    "train.dtype": ("float32", "bfloat16"),
    "optimizer.name": ("sgd", "adam", "adamw"),
    "optimizer.decay_mask": ("all", "no_norm_bias_embed"),
    "schedule.name": ("warmup_cosine", "multistep", "exponential", "constant"),
    "data.stream": ("joint", "bone", "joint_motion", "bone_motion"),
    "data.sampling": ("crop_resize", "uniform"),
    "data.normalize": ("ctrgcn", "pyskl", "nwucla", "none"),
    "data.rotation_axes": ("xyz", "xy"),
}


def validate(config: ConfigDict, num_devices: int | None = None) -> None:
  """Rejects inconsistent values before anything compiles; each message names the key."""
  reference = base_config()
  for section in reference.keys():
    if section not in config:
      raise ConfigError(f"config lacks section {section!r}; build it from actionjax.config.base_config()")
    if isinstance(reference[section], ConfigDict):
      for key in reference[section].keys():
        if key not in config[section]:
          raise ConfigError(f"config lacks key '{section}.{key}'; build it from base_config()")
  for key, choices in _CHOICES.items():
    section, name = key.split(".")
    if config[section][name] not in choices:
      raise ConfigError(f"{key}={config[section][name]!r} is not one of {', '.join(choices)}")
  from actionjax.models import registry  # local: keeps config import light
  if config.model.name not in registry.names():
    raise ConfigError(f"model.name={config.model.name!r} is unknown; known: {', '.join(registry.names())}")
  t = config.train
  for key in ("batch_size", "checkpoint_every_steps", "grad_accum_steps", "log_every_steps"):
    if t[key] <= 0:
      raise ConfigError(f"train.{key} must be positive, got {t[key]}")
  if config.data.repeat < 1:
    raise ConfigError(f"data.repeat must be >= 1 (passes per epoch), got {config.data.repeat}")
  if t.num_steps <= 0 and t.num_epochs <= 0:
    raise ConfigError("set train.num_steps or train.num_epochs to a positive value")
  if not 0.0 <= t.ema_decay < 1.0:
    raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
  if not 0.0 <= t.label_smoothing < 1.0:
    raise ConfigError(f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
  if not 0.0 < config.data.label_fraction <= 1.0:
    raise ConfigError(f"data.label_fraction must be in (0, 1], got {config.data.label_fraction}")
  if t.profile_steps and not (len(t.profile_steps) == 2 and 1 <= t.profile_steps[0] <= t.profile_steps[1]):
    raise ConfigError(f"train.profile_steps={tuple(t.profile_steps)} must be two steps a <= b (from 1),"
                      " e.g. --config.train.profile_steps=10,12")
  if config.schedule.base_lr <= 0:
    raise ConfigError(f"schedule.base_lr must be positive, got {config.schedule.base_lr}")
  if num_devices is not None:
    data, model = mesh_shape(config, num_devices)
    if t.batch_size % (data * t.grad_accum_steps):
      raise ConfigError(
          f"train.batch_size={t.batch_size} is not divisible by the data-parallel size {data}"
          f" x train.grad_accum_steps={t.grad_accum_steps}; pick a multiple of {data * t.grad_accum_steps}")
    eval_bs = t.eval_batch_size or t.batch_size
    if eval_bs % data:
      raise ConfigError(f"train.eval_batch_size={eval_bs} is not divisible by mesh.data={data}")


def mesh_shape(config: ConfigDict, num_devices: int) -> tuple[int, int]:
  """(data, model) sizes; -1 takes the devices that remain."""
  data, model = config.mesh.data, config.mesh.model
  if data == -1 and model == -1:
    raise ConfigError("mesh.data and mesh.model cannot both be -1")
  if data == -1:
    data = num_devices // model if model > 0 and num_devices % model == 0 else 0
  if model == -1:
    model = num_devices // data if data > 0 and num_devices % data == 0 else 0
  if data <= 0 or model <= 0 or data * model != num_devices:
    raise ConfigError(f"mesh.data={config.mesh.data} x mesh.model={config.mesh.model} does not fit"
                      f" {num_devices} devices; use -1 for the axis that takes the rest")
  return data, model
