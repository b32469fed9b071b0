"""A small skeleton classifier used by the platform's tests and as a baseline: per-joint
embedding, BatchNorm, one temporal convolution, dropout, pooling over persons/time/joints.
Exercises every trainer path (Params, BatchStats, dropout RNG) in a fraction of a second."""
from __future__ import annotations

import jax
from flax import nnx

from actionjax.layers.norm import batch_norm
from actionjax.models import registry


@registry.register("tiny_classifier")
class TinyClassifier(nnx.Module):

  def __init__(self, config, *, rngs: nnx.Rngs):
    d = config.data
    width = config.model.get("width", 16)
    # No bias before BatchNorm: BN cancels it, and Adam would amplify its ~0 gradient noise.
    self.embed = nnx.Linear(d.channels * d.num_joints, width, use_bias=False, rngs=rngs)
    self.norm = batch_norm(width, rngs=rngs)
    self.temporal = nnx.Conv(width, width, kernel_size=(3,), padding="SAME", rngs=rngs)
    self.dropout = nnx.Dropout(config.model.get("dropout", 0.1))
    self.head = nnx.Linear(width, config.model.num_classes, rngs=rngs)

  def __call__(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> dict:
    b, m, t, v, c = inputs.shape
    x = inputs.reshape(b * m, t, v * c)
    x = self.norm(self.embed(x), use_running_average=not train)
    x = x + jax.nn.relu(self.temporal(x))
    x = self.dropout(x, deterministic=not train, rngs=rngs)
    x = x.reshape(b, m, t, -1).mean(axis=(1, 2))
    return {"logits": self.head(x)}
