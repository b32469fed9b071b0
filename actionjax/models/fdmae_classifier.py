"""FD-MAE / MAMP evaluation model: the pre-trained encoder plus MAMP's heads (FD-MAE §III-B).

config.model.head: 'linear' (linear evaluation: mean over M, T, V -> fc) or 'finetune' (fine-tune and
semi-supervised evaluation: dropout -> mean over T -> flatten V*D -> mean over M -> fc1 -> BatchNorm
-> ReLU -> fc2), as in MAMP's evaluation model (mamp_interop.md).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from actionjax.layers.norm import batch_norm
from actionjax.models import registry
from actionjax.models.fdmae_encoder import ENCODER_KEYS, EncoderMixin

_EMBED_KEYS = ("joints_embed", "pos_embed", "temp_embed")
_head_init = nnx.initializers.truncated_normal(0.02)


class LinearHead(nnx.Module):

  def __init__(self, dim: int, num_classes: int, *, rngs: nnx.Rngs):
    self.fc = nnx.Linear(dim, num_classes, kernel_init=_head_init, rngs=rngs)

  def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> jax.Array:
    return self.fc(x.mean(axis=(1, 2, 3)))  # (B, M, T_tok, V, D) -> (B, D)


class FinetuneHead(nnx.Module):

  def __init__(self, in_dim: int, hidden: int, num_classes: int, dropout: float, *, rngs: nnx.Rngs):
    self.dropout = dropout
    self.fc1 = nnx.Linear(in_dim, hidden, kernel_init=_head_init, rngs=rngs)
    # torch BatchNorm1d(momentum=0.1, eps=1e-5) == flax momentum 0.9.
    self.bn = batch_norm(hidden, rngs=rngs)
    self.fc2 = nnx.Linear(hidden, num_classes, kernel_init=_head_init, rngs=rngs)

  def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> jax.Array:
    if train and self.dropout > 0 and rngs is not None:
      keep = jax.random.bernoulli(rngs.dropout(), 1.0 - self.dropout, x.shape)
      x = jnp.where(keep, x / (1.0 - self.dropout), 0).astype(x.dtype)
    b, m, _, v, d = x.shape
    x = x.mean(axis=2).reshape(b, m, v * d).mean(axis=1)
    x = jax.nn.relu(self.bn(self.fc1(x), use_running_average=not train))
    return self.fc2(x)


@registry.register("fdmae_classifier")
class FDMAEClassifier(EncoderMixin, nnx.Module):
  """inputs (B, M, T, V, C) -> {"logits": (B, num_classes)}; encoder param paths equal
  FDMAEPretrain's, so `init_key_map` only drops the pre-training-only params."""

  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    m = config.model
    self._init_encoder(config, config.data.num_frames, m.get("drop_path", 0.0), rngs)
    self.head_type = m.get("head", "linear")
    if self.head_type == "linear":
      self.head = LinearHead(self.dim, m.num_classes, rngs=rngs)
    elif self.head_type == "finetune":
      self.head = FinetuneHead(self.num_joints * self.dim, m.get("head_hidden", 2048), m.num_classes,
                               m.get("head_dropout", 0.3), rngs=rngs)
    else:
      raise ValueError(f"model.head={self.head_type!r} is not one of linear, finetune")

  @property
  def num_layers(self) -> int:
    return self.depth

  def layer_index(self, path: tuple[str, ...]) -> int:
    """Layer-wise LR decay: embeddings 0, blocks.i -> i + 1, final norm and head -> depth + 1."""
    if path[0] in _EMBED_KEYS:
      return 0
    if path[0] == "blocks":
      return int(path[1]) + 1
    return self.depth + 1

  @staticmethod
  def init_key_map(path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Pre-train checkpoint path -> classifier path: encoder params keep their path; the decoder,
    mask token and SSFRM are dropped."""
    return tuple(path) if path and str(path[0]) in ENCODER_KEYS else None

  def features(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> jax.Array:
    """(B, M, T, V, C) -> encoder output (B, M, T_tok, V, D)."""
    b, m, t, v, c = inputs.shape
    z = self.encode(inputs.reshape(b * m, t, v, c), train=train, rngs=rngs)
    return z.reshape(b, m, self.num_tokens_t, v, -1)

  def __call__(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None) -> dict:
    return {"logits": self.head(self.features(inputs, train=train, rngs=rngs), train=train, rngs=rngs)}
