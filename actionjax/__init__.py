"""actionjax: action and gesture recognition in JAX / Flax NNX.

    import actionjax
    actionjax.train("configs/fgstformer.py:demo", "runs/demo", train__num_steps=200)
    metrics = actionjax.evaluate("runs/demo")
    model, config = actionjax.load("runs/demo")
    logits = actionjax.predict(model, inputs)   # the forward as one compiled program
    actionjax.export.to_torch("runs/demo"); actionjax.export.to_onnx("runs/demo", "demo.onnx")

Importing the package is light: JAX, TensorFlow and torch load when a function needs them."""
import importlib

from actionjax import logs as _logs
from actionjax.api import evaluate, load, predict, train

__version__ = "0.1.0"
__all__ = ["evaluate", "export", "load", "predict", "train", "viz"]

_logs.quiet_native_logs()

_SUBMODULES = ("export", "viz", "scoring", "training", "models", "layers")


def __getattr__(name: str):
  """`actionjax.export.to_torch(...)` without importing the submodule first (PEP 562)."""
  if name in _SUBMODULES:
    return importlib.import_module(f"actionjax.{name}")
  raise AttributeError(f"module 'actionjax' has no attribute {name!r}")
