"""ONNX export through the PyTorch mirrors: `torch.onnx.export` (its default dynamo path, which needs
`onnxscript`), a single self-contained `.onnx` file whose batch dimension is dynamic, checked with
`onnx.checker` and run once in onnxruntime against the mirror. Needs the `onnx` extra; torch, onnx
and onnxruntime are imported only when a function here runs.

The graph maps float32 `inputs` to `logits` (N, num_classes); the input layout and per-sample shape
are stored in the file's metadata (`summary(path)` prints them):
  skeleton models: (N, M, T, V, C) = (batch, data.max_persons, data.num_frames, data.num_joints,
                   data.channels), the normalised skeleton the model sees;
  video models:    (N, T, H, W, C) = (batch, data.num_frames, data.image_size, data.image_size,
                   3 for RGB + 1 for depth), normalised as in training (train.video_inputs.normalize).
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import warnings

import numpy as np

from actionjax.export import ExportError

_INSTALL = 'pip install -e ".[onnx]"'
_EXAMPLE_BATCH = 2  # torch.export specialises a dimension of size 1, so the example batch is 2
# The mirror vs onnxruntime on the example input: a broken graph is off by O(1); float32 noise in
# a trained model is below 1e-4 relative (random weights with unset BatchNorm statistics can blow
# it up, in torch against JAX too: the margin leaves them room).
_VERIFY_RTOL = 1e-2


def input_spec(config) -> tuple[str, tuple[int, ...]]:
  """(layout, per-sample shape) of the model's input under `config`."""
  d = config.data
  if tuple(d.modalities):
    from actionjax.training.video_inputs import input_channels
    return "NTHWC", (d.num_frames, d.image_size, d.image_size, input_channels(config))
  return "NMTVC", (d.max_persons, d.num_frames, d.num_joints, d.channels)


def example_input(config, batch: int = _EXAMPLE_BATCH, seed: int = 0) -> np.ndarray:
  """A float32 normal batch of the model's input shape (export trace and check input)."""
  return np.random.default_rng(seed).normal(size=(batch,) + input_spec(config)[1]).astype(np.float32)


def _require():
  """Imports what the export needs (onnxscript: torch's dynamo exporter builds the graph with it),
  or says which extra to install; returns torch."""
  for name in ("torch", "onnx", "onnxscript", "onnxruntime"):
    try:
      importlib.import_module(name)
    except ImportError as e:
      raise ExportError(f"ONNX export needs {e.name or name}: {_INSTALL}") from e
  import torch
  return torch


def _logits_module(module):
  """Wraps a mirror so the graph has one output: models returning a dict keep only "logits"."""
  torch = _require()

  class Logits(torch.nn.Module):
    def __init__(self, net):
      super().__init__()
      self.net = net

    def forward(self, inputs):
      out = self.net(inputs)
      return out["logits"] if isinstance(out, dict) else out

  return Logits(module).eval()


@contextlib.contextmanager
def _quiet_exporter():
  """Silences torch-internal noise that says nothing about this model: the op registry's warning
  per torchvision op when torchvision is absent, and torch.export's own deprecation warnings."""
  log = logging.getLogger("torch.onnx._internal.exporter._registration")
  level = log.level
  log.setLevel(logging.ERROR)
  try:
    with warnings.catch_warnings():
      warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
      yield
  finally:
    log.setLevel(level)


def _operator(err: BaseException) -> str:
  """The operator named in an exporter or onnxruntime error, or '' if it names none."""
  text = "\n".join(str(e) for e in (err, err.__cause__) if e is not None)
  for pattern in (r"op='([\w.]+)'", r"target=torch\.ops\.([\w.]+)", r"implementation for (\w+\(\d+\))"):
    m = re.search(pattern, text)
    if m:
      return m.group(1)
  return ""


def _unsupported(name: str, stage: str, err: BaseException) -> ExportError:
  op = _operator(err)
  what = f"operator {op}" if op else f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200]}"
  return ExportError(f"{name}: {what} does not {stage}; export the PyTorch state_dict with --to torch instead"
                     " (or rerun with --debug for the traceback)")


def export_module(module, example: np.ndarray, path: str, *, name: str = "model",
                  metadata: dict[str, str] | None = None, verify: bool = True) -> str:
  """Exports a torch module taking one float32 tensor to a single `.onnx` file at `path` with a
  dynamic batch dimension, checks it (onnx.checker; with `verify`, onnxruntime on `example` against
  the module) and returns the absolute path. Failures raise ExportError naming the operator."""
  torch = _require()
  import onnx
  wrapped = _logits_module(module)
  x = torch.from_numpy(np.ascontiguousarray(example, np.float32))
  path = os.path.abspath(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  try:
    with _quiet_exporter(), torch.no_grad():
      torch.onnx.export(wrapped, (x,), path, dynamo=True, input_names=["inputs"], output_names=["logits"],
                        dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False, verbose=False)
  except Exception as e:  # the exporter's errors carry no stable type across versions
    raise _unsupported(name, "export to ONNX", e) from e
  proto = onnx.load(path)
  for key, value in (metadata or {}).items():
    entry = proto.metadata_props.add()
    entry.key, entry.value = key, value
  onnx.checker.check_model(proto, full_check=True)
  onnx.save(proto, path)
  if verify:
    with torch.no_grad():
      _verify(path, example, wrapped(x).numpy(), name)
  return path


def _verify(path: str, example: np.ndarray, expected: np.ndarray, name: str) -> None:
  """The file runs in onnxruntime and reproduces the mirror's logits on `example`."""
  import onnxruntime as ort
  try:
    got = session(path).run(None, {"inputs": example})[0]
  except Exception as e:  # a kernel onnxruntime lacks fails here (NOT_IMPLEMENTED)
    raise _unsupported(name, "run in onnxruntime", e) from e
  err = np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-6)
  if not err <= _VERIFY_RTOL:
    raise ExportError(f"{name}: the ONNX graph's logits differ from the PyTorch mirror's by {err:.2g}"
                      f" (relative, onnxruntime {ort.__version__}); export with --to torch instead")


def session(path: str):
  """An onnxruntime CPU session for an exported file."""
  import onnxruntime as ort
  return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def export_model(model, config, path: str, *, verify: bool = True) -> str:
  """Exports an NNX model (e.g. `actionjax.load(workdir)`) to ONNX through its PyTorch mirror."""
  from actionjax import export
  module = export.mirror(model, config)
  layout, shape = input_spec(config)
  metadata = {"actionjax.model": config.model.name, "actionjax.num_classes": str(config.model.num_classes),
              "actionjax.input_layout": layout, "actionjax.input_shape": ",".join(["batch", *map(str, shape)])}
  return export_module(module, example_input(config), path, name=config.model.name, metadata=metadata,
                       verify=verify)


def summary(path: str) -> str:
  """One line: the input and output an exported file expects, from its metadata."""
  import onnx
  props = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
  if "actionjax.input_shape" not in props:
    return "no actionjax metadata"
  return (f"{props['actionjax.model']}: inputs float32 {props['actionjax.input_layout']}"
          f" ({props['actionjax.input_shape']}) -> logits (batch, {props['actionjax.num_classes']})")
