"""Optimizers and learning-rate schedules from the config (optax).

The papers use SGD with Nesterov momentum and multi-step decay (FG-STFormer §4.2), Adam with
per-epoch exponential decay (SLnL-rFA §4.1) and AdamW with warm-up + cosine and layer-wise LR
decay (MAMP / FD-MAE); all are built here from one chain:
  clip -> [coupled L2] -> base update -> [decoupled decay] -> -lr(step) -> layer scale -> freeze.
"""
from __future__ import annotations

import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

# Parameters that are never weight-decayed besides 1-D ones (norm scales, biases): position /
# time embedding tables, mask tokens, embedding lookups and attention priors. Patch projections
# (e.g. MAMP's joints_embed.proj) are decayed, as in MAE / MAMP.
_NO_DECAY = re.compile(r"(^|\.)([^.]*pos_embed[^.]*|[^.]*temp_embed[^.]*|mask_token|cls_token|embedding|A_g)(\.|$)")


def path_str(path: tuple) -> str:
  return ".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def decay_mask(params, mode: str):
  """True where weight decay applies. `no_norm_bias_embed` excludes 1-D params, norms, biases and
  embeddings (the usual AdamW recipe); `all` decays everything (PyTorch SGD's weight_decay)."""
  def keep(path, leaf):
    if mode == "all":
      return True
    return leaf.ndim > 1 and not _NO_DECAY.search(path_str(path))
  return jax.tree_util.tree_map_with_path(keep, params)


def schedule(config: ml_collections.ConfigDict, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Learning rate per optimizer step: linear warm-up, then the named decay (epochs -> steps)."""
  s = config.schedule
  base = s.base_lr
  warmup = int(round(s.warmup_epochs * steps_per_epoch)) if s.warmup_epochs else s.warmup_steps
  warmup = min(warmup, max(total_steps - 1, 0))
  if s.name == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0 if warmup else base, base, warmup, max(total_steps, warmup + 1),
                                              end_value=base * s.end_lr_factor)
  if s.name == "multistep":
    # Boundaries count from the start of training (the papers' epochs), not from warm-up's end.
    boundaries = {int(round(e * steps_per_epoch)) - warmup: s.decay_factor for e in s.boundaries_epochs}
    main = optax.piecewise_constant_schedule(base, {k: v for k, v in boundaries.items() if k > 0})
  elif s.name == "exponential":
    main = optax.exponential_decay(base, transition_steps=max(steps_per_epoch, 1), decay_rate=s.decay_rate,
                                   staircase=True)
  else:
    main = optax.constant_schedule(base)
  if not warmup:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, base, warmup), main], [warmup])


def _scale_by_tree(scales) -> optax.GradientTransformation:
  def update(updates, state, params=None):
    return jax.tree.map(lambda u, s: u * s, updates, scales), state
  return optax.GradientTransformation(lambda _: optax.EmptyState(), update)


def layer_scales(params, model: Any, decay: float):
  """Layer-wise LR decay (BEiT / MAE fine-tuning): scale = decay ** (num_layers + 1 - layer)."""
  n = model.num_layers
  return jax.tree_util.tree_map_with_path(
      lambda path, _: decay ** (n + 1 - model.layer_index(tuple(path_str(path).split(".")))), params)


def frozen_mask(params, pattern: str):
  regex = re.compile(pattern)
  return jax.tree_util.tree_map_with_path(lambda path, _: bool(regex.search(path_str(path))), params)


class TorchMomentumState(NamedTuple):
  count: jax.Array  # updates taken
  buf: Any          # momentum buffer


def torch_momentum(momentum: float, dampening: float, nesterov: bool = False) -> optax.GradientTransformation:
  """torch.optim.SGD's momentum with dampening: the first step sets buf = g (no dampening), later
  ones buf = momentum * buf + (1 - dampening) * g; the update is buf, or g + momentum * buf with
  Nesterov (which torch allows only without dampening)."""
  if nesterov and dampening:
    raise ValueError("Nesterov momentum requires optimizer.dampening=0 (as in torch.optim.SGD)")

  def init(params):
    return TorchMomentumState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params))

  def update(updates, state, params=None):
    del params
    first = state.count == 0
    buf = jax.tree.map(lambda g, b: jnp.where(first, g, momentum * b + (1.0 - dampening) * g),
                       updates, state.buf)
    out = jax.tree.map(lambda g, b: g + momentum * b, updates, buf) if nesterov else buf
    return out, TorchMomentumState(optax.safe_increment(state.count), buf)

  return optax.GradientTransformation(init, update)


def make(config: ml_collections.ConfigDict, params, lr: optax.Schedule, model: Any = None) -> optax.GradientTransformation:
  """The optax transformation for `config.optimizer` over `params` (an nnx.State of Params)."""
  o = config.optimizer
  chain: list[optax.GradientTransformation] = []
  if o.clip_norm > 0:
    chain.append(optax.clip_by_global_norm(o.clip_norm))
  mask = decay_mask(params, o.decay_mask)
  if o.name in ("sgd", "adam") and o.weight_decay > 0:  # coupled L2, as torch.optim.SGD / Adam
    chain.append(optax.add_decayed_weights(o.weight_decay, mask))
  if o.name == "sgd":
    if o.momentum > 0 and o.get("dampening", 0.0) > 0:
      chain.append(torch_momentum(o.momentum, o.dampening, o.nesterov))
    elif o.momentum > 0:
      chain.append(optax.trace(decay=o.momentum, nesterov=o.nesterov))
  else:
    chain.append(optax.scale_by_adam(b1=o.b1, b2=o.b2, eps=o.eps))
  if o.name == "adamw" and o.weight_decay > 0:  # decoupled (Loshchilov & Hutter)
    chain.append(optax.add_decayed_weights(o.weight_decay, mask))
  chain.append(optax.scale_by_learning_rate(lr))
  if o.layer_decay > 0:
    if not hasattr(model, "layer_index"):
      raise ValueError(f"optimizer.layer_decay needs a model with layer_index(); {config.model.name} has none")
    chain.append(_scale_by_tree(layer_scales(params, model, o.layer_decay)))
  if o.freeze:
    frozen = frozen_mask(params, o.freeze)
    if not any(jax.tree.leaves(frozen)):
      raise ValueError(f"optimizer.freeze={o.freeze!r} matches no parameter")
    chain.append(optax.masked(optax.set_to_zero(), frozen))
  return optax.chain(*chain)
