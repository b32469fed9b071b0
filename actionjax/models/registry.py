"""Model registry: `config.model.name` -> constructor.

Models register themselves with `@register("name")`; the registry imports the model modules
lazily so that importing actionjax stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Callable

from flax import nnx
import ml_collections

_REGISTRY: dict[str, Callable[..., nnx.Module]] = {}
# name -> module that registers it (imported on first use).
_MODULES = {
    "tiny_classifier": "actionjax.models.tiny",
    "tiny_video": "actionjax.models.tiny_video",
    "fgstformer": "actionjax.models.fgstformer",
    "slnl_rfa": "actionjax.models.slnl_rfa",
    "fdmae_pretrain": "actionjax.models.fdmae",
    "fdmae_classifier": "actionjax.models.fdmae",
    "mfst": "actionjax.models.mfst",
    "xstft": "actionjax.models.xstft",
}


def register(name: str):
  def wrap(cls):
    _REGISTRY[name] = cls
    return cls
  return wrap


def names() -> list[str]:
  return sorted(set(_MODULES) | set(_REGISTRY))


def get(name: str) -> Callable[..., nnx.Module]:
  if name not in _REGISTRY and name in _MODULES:
    importlib.import_module(_MODULES[name])
  if name not in _REGISTRY:
    raise KeyError(f"unknown model.name {name!r}; known models: {', '.join(names())}")
  return _REGISTRY[name]


def create(config: ml_collections.ConfigDict, *, rngs: nnx.Rngs) -> nnx.Module:
  """Builds the model named by `config.model.name` (see docs/architecture.md)."""
  return get(config.model.name)(config, rngs=rngs)
