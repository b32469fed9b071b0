"""The pure train and eval steps shared by every model: functions of (state, batch) that the
trainer jits with explicit shardings. Models differ only in modules, losses and configs."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from actionjax import losses
from actionjax.config import ConfigDict
from actionjax.training.state import TrainState
from actionjax.training.video_inputs import model_inputs

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def cast_floats(tree, dtype):
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def _mixup(batch: dict, key: jax.Array, alpha: float, num_classes: int, smoothing: float) -> dict:
  """MixUp (Zhang et al. 2018): convex combination with the batch rolled by one sample."""
  lam = jax.random.beta(key, alpha, alpha)
  onehot = optax.smooth_labels(jax.nn.one_hot(batch["label"], num_classes), smoothing)
  mixed = dict(batch)
  mixed["inputs"] = lam * batch["inputs"] + (1 - lam) * jnp.roll(batch["inputs"], 1, axis=0)
  mixed["targets"] = lam * onehot + (1 - lam) * jnp.roll(onehot, 1, axis=0)
  return mixed


def make_train_step(graphdef: nnx.GraphDef, config: ConfigDict, tx: optax.GradientTransformation,
                    lr: optax.Schedule, uses_ema: bool) -> Callable:
  dtype = DTYPES[config.train.dtype]
  loss_fn = losses.from_config(config)
  accum = config.train.grad_accum_steps
  ema_decay = config.train.ema_decay
  num_classes = config.model.num_classes

  def forward(params, rest, ema, batch, key):
    model = nnx.merge(graphdef, cast_floats(params, dtype), rest)
    kwargs = {}
    if uses_ema:
      target = ema if ema_decay > 0 else params
      kwargs["ema"] = nnx.merge(graphdef, cast_floats(jax.lax.stop_gradient(target), dtype), rest)
    inputs = batch["inputs"].astype(dtype)
    outputs = model(inputs, train=True, rngs=nnx.Rngs(default=key), **kwargs)
    per_example, extra = loss_fn(outputs, batch)
    metrics = {k: jnp.mean(v) for k, v in extra.items()}
    if "logits" in outputs:
      metrics["accuracy"] = jnp.mean(jnp.argmax(outputs["logits"], -1) == batch["label"])
    new_rest = jax.tree.map(lambda new, old: new.astype(old.dtype), nnx.to_pure_dict(nnx.state(model, nnx.Not(nnx.Param))), rest)
    return jnp.mean(per_example.astype(jnp.float32)), (new_rest, metrics)

  grad_fn = jax.value_and_grad(forward, has_aux=True)

  def train_step(state: TrainState, batch: dict):
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    mix_key, key = jax.random.split(key)
    batch = dict(batch, inputs=model_inputs(batch["inputs"], config))  # video: uint -> float32
    if config.train.mixup_alpha > 0:
      batch = _mixup(batch, mix_key, config.train.mixup_alpha, num_classes, config.train.label_smoothing)
    if accum == 1:
      (loss, (rest, metrics)), grads = grad_fn(state.params, state.rest, state.ema, batch, key)
    else:
      # Micro-batch i takes rows i, i+k, i+2k, ... so that every micro-batch spans all data shards.
      micro = jax.tree.map(lambda x: jnp.swapaxes(x.reshape(x.shape[0] // accum, accum, *x.shape[1:]), 0, 1), batch)

      def body(carry, xs):
        rest, grads_sum, loss_sum, metrics_sum = carry
        mb, i = xs
        (loss, (rest, metrics)), grads = grad_fn(state.params, rest, state.ema, mb, jax.random.fold_in(key, i))
        add = lambda a, b: jax.tree.map(jnp.add, a, b)
        return (rest, add(grads_sum, grads), loss_sum + loss, add(metrics_sum, metrics)), None

      zeros = jax.tree.map(jnp.zeros_like, state.params)
      _, (_, metrics0) = jax.eval_shape(grad_fn, state.params, state.rest, state.ema,
                                        jax.tree.map(lambda x: x[0], micro), key)[0]
      init = (state.rest, zeros, jnp.zeros((), jnp.float32), jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metrics0))
      (rest, grads, loss, metrics), _ = jax.lax.scan(body, init, (micro, jnp.arange(accum)))
      grads = jax.tree.map(lambda g: g / accum, grads)
      loss = loss / accum
      metrics = jax.tree.map(lambda m: m / accum, metrics)
    # Finite iff every gradient is (or the norm overflows float32, beyond 1e19: a diverged run).
    # A per-leaf all(isfinite) chain is cheap enough that XLA copies it into each of the
    # hundreds of `keep` fusions below: 4x the HLO and 3x the compile time of this step.
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    ok = finite & (state.bad_step < 0)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema
    if ema_decay > 0:  # Eq. (1), FD-MAE: theta_tar <- d * theta_tar + (1 - d) * theta_on
      ema = jax.tree.map(lambda e, p: ema_decay * e + (1 - ema_decay) * p, state.ema, params)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
    new_state = state.replace(
        step=state.step + ok.astype(state.step.dtype),
        params=keep(params, state.params), rest=keep(rest, state.rest),
        opt_state=keep(opt_state, state.opt_state), ema=keep(ema, state.ema),
        bad_step=jnp.where((state.bad_step < 0) & ~finite, state.step, state.bad_step))
    metrics = dict(metrics, loss=loss, lr=lr(state.step), grad_norm=grad_norm)
    return new_state, metrics

  return train_step


def make_eval_step(graphdef: nnx.GraphDef, config: ConfigDict, use_ema: bool) -> Callable:
  dtype = DTYPES[config.train.dtype]

  def eval_step(state: TrainState, inputs: jax.Array) -> jax.Array:
    params = state.ema if use_ema else state.params
    model = nnx.merge(graphdef, cast_floats(params, dtype), state.rest)
    return model(model_inputs(inputs, config).astype(dtype), train=False)["logits"].astype(jnp.float32)

  return eval_step
