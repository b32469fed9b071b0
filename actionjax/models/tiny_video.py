"""A small video classifier (the video counterpart of `tiny_classifier`): two strided 3x3x3
convolutions with BatchNorm and ReLU, global average pooling, dropout and a linear head. Lets the
video pipeline, the trainer and the tests run before MFST and X-STFT; also a sanity baseline."""
from __future__ import annotations

import jax
from flax import nnx

from actionjax.layers.norm import batch_norm
from actionjax.models import registry
from actionjax.training.video_inputs import input_channels


@registry.register("tiny_video")
class TinyVideo(nnx.Module):

  def __init__(self, config, *, rngs: nnx.Rngs):
    width = config.model.get("width", 16)
    c = input_channels(config)
    # No bias before BatchNorm: BN cancels it.
    self.conv1 = nnx.Conv(c, width, (3, 3, 3), strides=(1, 2, 2), use_bias=False, rngs=rngs)
    self.norm1 = batch_norm(width, rngs=rngs)
    self.conv2 = nnx.Conv(width, 2 * width, (3, 3, 3), strides=(2, 2, 2), use_bias=False, rngs=rngs)
    self.norm2 = batch_norm(2 * width, rngs=rngs)
    self.dropout = nnx.Dropout(config.model.get("dropout", 0.1))
    self.head = nnx.Linear(2 * width, config.model.num_classes, rngs=rngs)

  def __call__(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> dict:
    """inputs: normalised float (B, T, H, W, C)."""
    x = jax.nn.relu(self.norm1(self.conv1(inputs), use_running_average=not train))
    x = jax.nn.relu(self.norm2(self.conv2(x), use_running_average=not train))
    x = self.dropout(x.mean(axis=(1, 2, 3)), deterministic=not train, rngs=rngs)
    return {"logits": self.head(x)}
