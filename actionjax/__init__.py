"""actionjax: action and gesture recognition in JAX / Flax NNX."""
__version__ = "0.1.0"


def load(workdir: str, checkpoint: str | int = "latest"):
  """Returns `(model, config)` restored from a training workdir, the model in eval mode."""
  from actionjax.workdir import load as _load
  return _load(workdir, checkpoint)
