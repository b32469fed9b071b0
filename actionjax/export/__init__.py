"""PyTorch export. Each model has a pure-PyTorch mirror in `torch_models/` and a module here with
`torch_model(config)` and `state_dict(model, config)` (and FD-MAE `mamp_state_dict`, MAMP's key
names); this module restores a workdir and dispatches on `config.model.name`. `to_onnx` exports
the mirror to ONNX (onnx.py)."""
from __future__ import annotations

import importlib
import os

import numpy as np

# model.name -> converter module in actionjax.export
_CONVERTERS = {
    "fgstformer": "fgstformer",
    "slnl_rfa": "slnl_rfa",
    "fdmae_classifier": "fdmae",
    "fdmae_pretrain": "fdmae",
    "mfst": "mfst",
    "xstft": "xstft",
}


class ExportError(RuntimeError):
  pass


def converter(model_name: str):
  if model_name not in _CONVERTERS:
    raise ExportError(f"model {model_name!r} has no PyTorch export; exportable: {', '.join(sorted(_CONVERTERS))}")
  return importlib.import_module(f"actionjax.export.{_CONVERTERS[model_name]}")


def state_dict(workdir: str, *, to: str = "torch", checkpoint: str | int = "latest") -> dict[str, np.ndarray]:
  """The weights of a trained workdir as a numpy state_dict for the mirror (`torch`) or MAMP."""
  from actionjax import load
  model, config = load(workdir, checkpoint)
  conv = converter(config.model.name)
  if to == "torch":
    return conv.state_dict(model, config)
  if to == "mamp":
    if not hasattr(conv, "mamp_state_dict"):
      raise ExportError(f"--to mamp exports FD-MAE runs; {workdir} trained {config.model.name!r}")
    return conv.mamp_state_dict(model, config)
  raise ExportError(f"unknown export target {to!r}; use torch or mamp")


def mirror(model, config):
  """An eval-mode `torch.nn.Module` (the project's mirror) holding the NNX model's weights."""
  import torch
  conv = converter(config.model.name)
  if config.model.name == "fdmae_pretrain":
    raise ExportError("a pre-training workdir has no classifier to run in PyTorch; export it with --to mamp"
                      " (encoder keys) or fine-tune it first")
  module = conv.torch_model(config)
  sd = {k: torch.from_numpy(np.array(v, order="C")) for k, v in conv.state_dict(model, config).items()}
  module.load_state_dict(sd, strict=True)
  return module.eval()


def to_torch(workdir: str, checkpoint: str | int = "latest"):
  """An eval-mode `torch.nn.Module` (the project's mirror) holding the workdir's weights."""
  from actionjax import load
  model, config = load(workdir, checkpoint)
  return mirror(model, config)


def to_onnx(workdir: str, path: str, checkpoint: str | int = "latest", *, verify: bool = True) -> str:
  """Writes the workdir's model to `path` as one ONNX file (through the mirror, batch dimension
  dynamic; see actionjax/export/onnx.py for the input layout) and returns its absolute path. With
  `verify`, onnxruntime runs it once against the mirror. Needs the `onnx` extra."""
  from actionjax import load
  from actionjax.export import onnx as onnx_export
  model, config = load(workdir, checkpoint)
  return onnx_export.export_model(model, config, path, verify=verify)


def export_file(workdir: str, *, to: str = "torch", out: str, checkpoint: str | int = "latest") -> str:
  """Writes the state_dict to `out`: `.safetensors` by extension, otherwise a `torch.save` file."""
  import torch
  sd = {k: torch.from_numpy(np.array(v, order="C")) for k, v in state_dict(workdir, to=to, checkpoint=checkpoint).items()}
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  if out.endswith(".safetensors"):
    from safetensors.torch import save_file
    save_file(sd, out)
  else:
    torch.save(sd, out)
  return os.path.abspath(out)
