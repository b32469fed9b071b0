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


def _target_terms(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(log p_t, log(1 - p_t)) from log-sum-exps, finite for logits of any magnitude.

  log(1 - p_t) is logsumexp over the non-target logits minus logsumexp over all of them, so it
  never forms 1 - p_t (which rounds to 0 once p_t is close to 1).
  """
  z = logits.astype(jnp.float32)
  lse = jax.nn.logsumexp(z, axis=-1)
  z_t = jnp.take_along_axis(z, labels[:, None], axis=-1)[:, 0]
  is_t = jax.nn.one_hot(labels, z.shape[-1], dtype=bool)
  lse_rest = jax.nn.logsumexp(jnp.where(is_t, -jnp.inf, z), axis=-1)
  return z_t - lse, lse_rest - lse


def soft_margin_term(logits: jax.Array, labels: jax.Array, *, margin: float) -> jax.Array:
  """L_SM = log(e^m + (1 - e^m) p_t) in [0, m] (Eq. 13, SLnL-rFA), as logaddexp(log p_t, m + log(1 - p_t))."""
  log_pt, log_rest = _target_terms(logits, labels)
  return jnp.logaddexp(log_pt, margin + log_rest)


def focal_loss(logits: jax.Array, labels: jax.Array, *, gamma: float) -> jax.Array:
  """Focal loss -(1 - p_t)^gamma log p_t (Eq. 18, SLnL-rFA; Lin et al. 2017).

  (1 - p_t)^gamma is exp(gamma log(1 - p_t)): finite gradients even at p_t = 1 and gamma < 1.
  """
  log_pt, log_rest = _target_terms(logits, labels)
  return -jnp.exp(gamma * log_rest) * log_pt


def soft_margin_cross_entropy(logits: jax.Array, labels: jax.Array, *, margin: float) -> jax.Array:
  """SMCE = L_SM + L_CE (Eq. 14), computed as Eq. 17: cross-entropy with the target logit lowered by m."""
  z = logits.astype(jnp.float32)
  shifted = z - margin * jax.nn.one_hot(labels, z.shape[-1], dtype=z.dtype)
  return cross_entropy(shifted, labels)


def soft_margin_focal_loss(logits: jax.Array, labels: jax.Array, *, gamma: float,
                           margin: float) -> jax.Array:
  """SMFL = L_SM + L_FL = log(e^m + (1 - e^m) p_t) - (1 - p_t)^gamma log p_t (Eq. 19, SLnL-rFA)."""
  log_pt, log_rest = _target_terms(logits, labels)
  return jnp.logaddexp(log_pt, margin + log_rest) - jnp.exp(gamma * log_rest) * log_pt


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
  gamma, margin = float(config.loss.gamma), float(config.loss.margin)
  margin_losses = {
      "focal": lambda z, y: focal_loss(z, y, gamma=gamma),
      "soft_margin_ce": lambda z, y: soft_margin_cross_entropy(z, y, margin=margin),
      "soft_margin_focal": lambda z, y: soft_margin_focal_loss(z, y, gamma=gamma, margin=margin),
  }
  if name in margin_losses:
    if config.train.mixup_alpha > 0 or ls:
      raise ValueError(f"loss.name={name!r} takes hard labels: set train.mixup_alpha=0 and train.label_smoothing=0")
    # L = L_p + L_v + L_c (Eqs. 20-21): the same loss on `logits` and every `aux_logits` head.
    fn = margin_losses[name]
    return _classification(lambda logits, batch: fn(logits, batch["label"]))
  raise ValueError(f"unknown loss.name {name!r}; known: cross_entropy, model, {', '.join(margin_losses)}")
