"""Losses. Public functions return per-example values of shape (B,); `from_config` builds the
`fn(outputs, batch) -> (loss (B,), metrics)` the trainer uses (docs/architecture.md)."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections


def cross_entropy(logits: jax.Array, labels: jax.Array, *, label_smoothing: float = 0.0) -> jax.Array:
  """Softmax cross-entropy with integer labels and optional label smoothing (Szegedy et al.)."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]
  if label_smoothing:
    return (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(axis=-1)
  return nll


def soft_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Cross-entropy against a distribution (MixUp targets)."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -(targets * logp).sum(axis=-1)


def _classification(per_example: Callable[[jax.Array, jax.Array], jax.Array]):
  def fn(outputs: dict, batch: dict):
    loss = per_example(outputs["logits"], batch)
    for aux in outputs.get("aux_logits", ()):
      loss = loss + per_example(aux, batch)
    return loss, {}
  return fn


def from_config(config: ml_collections.ConfigDict):
  """The trainer's loss: `config.loss.name` over `logits` plus every `aux_logits` head.

  Batches may carry `targets` (B, K) soft labels (MixUp); then the soft cross-entropy is used.
  Self-supervised models return their own per-example `loss` (`loss.name='model'`).
  """
  name, ls = config.loss.name, config.train.label_smoothing
  if name == "model":
    return lambda outputs, batch: (outputs["loss"], {k: v for k, v in outputs.items() if k != "loss"})
  if name == "cross_entropy":
    def per_example(logits, batch):
      if "targets" in batch:
        return soft_cross_entropy(logits, batch["targets"])
      return cross_entropy(logits, batch["label"], label_smoothing=ls)
    return _classification(per_example)
  raise ValueError(f"unknown loss.name {name!r}; known: cross_entropy, model")
