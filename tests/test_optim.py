"""Optimizers and schedules against hand computations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tiny_data
from actionjax.training import optim, trainer


def _cfg(**schedule):
  c = tiny_data.config("/unused")
  c.schedule.update(**schedule)
  return c


def test_multistep_with_warmup_counts_epochs_from_start():
  c = _cfg(name="multistep", base_lr=0.1, warmup_epochs=2.0, boundaries_epochs=(5, 8), decay_factor=0.1)
  lr = optim.schedule(c, steps_per_epoch=10, total_steps=100)
  assert float(lr(0)) == 0.0 and float(lr(10)) == pytest.approx(0.05)
  assert float(lr(20)) == pytest.approx(0.1) and float(lr(49)) == pytest.approx(0.1)
  assert float(lr(50)) == pytest.approx(0.01) and float(lr(79)) == pytest.approx(0.01)
  assert float(lr(80)) == pytest.approx(0.001)


def test_exponential_per_epoch_and_cosine():
  c = _cfg(name="exponential", base_lr=1e-3, decay_rate=0.98, warmup_epochs=0.0, warmup_steps=0)
  lr = optim.schedule(c, steps_per_epoch=7, total_steps=1000)
  assert float(lr(6)) == pytest.approx(1e-3) and float(lr(7)) == pytest.approx(0.98e-3)
  assert float(lr(7 * 10 + 3)) == pytest.approx(1e-3 * 0.98 ** 10, rel=1e-5)
  c = _cfg(name="warmup_cosine", base_lr=1.0, warmup_steps=10, end_lr_factor=0.0)
  lr = optim.schedule(c, steps_per_epoch=1, total_steps=110)
  assert float(lr(5)) == pytest.approx(0.5)
  assert float(lr(60)) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.5)), abs=1e-6)


def test_sgd_nesterov_coupled_decay_matches_torch_formula():
  """torch.optim.SGD(nesterov=True, weight_decay=wd): g += wd*p; b = mu*b + g; p -= lr*(g + mu*b)."""
  c = _cfg(name="constant", base_lr=0.1, warmup_steps=0)
  c.optimizer.update(name="sgd", momentum=0.9, nesterov=True, weight_decay=0.01, decay_mask="all")
  params = {"w": jnp.array([1.0, -2.0])}
  tx = optim.make(c, params, optim.schedule(c, 1, 10))
  state = tx.init(params)
  p, b = np.array([1.0, -2.0]), np.zeros(2)
  for g in ([0.5, 0.1], [-0.2, 0.3]):
    upd, state = tx.update({"w": jnp.array(g)}, state, params)
    params = jax.tree.map(lambda a, u: a + u, params, upd)
    gg = np.array(g) + 0.01 * p
    b = 0.9 * b + gg
    p = p - 0.1 * (gg + 0.9 * b)
  np.testing.assert_allclose(params["w"], p, rtol=1e-6)


def test_adamw_mask_layer_decay_and_freeze():
  c = _cfg()
  params = {"embed": {"kernel": jnp.ones((3, 4))}, "norm": {"scale": jnp.ones(4)}, "head": {"bias": jnp.ones(4)},
            "blocks": {"0": {"kernel": jnp.ones((4, 4))}}, "pos_embed": jnp.ones((1, 5, 4)),
            "mask_token": jnp.ones((1, 1, 4))}
  mask = optim.decay_mask(params, "no_norm_bias_embed")
  assert mask == {"embed": {"kernel": True}, "norm": {"scale": False}, "head": {"bias": False},
                  "blocks": {"0": {"kernel": True}}, "pos_embed": False, "mask_token": False}

  class Layered:
    num_layers = 1
    def layer_index(self, path):
      return {"embed": 0, "pos_embed": 0, "mask_token": 0, "blocks": 1}.get(path[0], 2)

  scales = optim.layer_scales(params, Layered(), 0.5)
  assert scales["embed"]["kernel"] == 0.25 and scales["pos_embed"] == 0.25 and scales["blocks"]["0"]["kernel"] == 0.5 and scales["head"]["bias"] == 1.0
  c.optimizer.update(name="adamw", weight_decay=0.1, freeze="^embed")
  tx = optim.make(c, params, lambda s: 1.0)
  upd, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
  assert float(jnp.abs(upd["embed"]["kernel"]).max()) == 0.0
  # adam's first step is -lr * sign(g) (up to eps); decay adds -lr * wd * p where the mask allows
  np.testing.assert_allclose(upd["blocks"]["0"]["kernel"], -(1 + 0.1), rtol=1e-5)
  np.testing.assert_allclose(upd["norm"]["scale"], -1.0, rtol=1e-5)
  c.optimizer.freeze = "^nothing"
  with pytest.raises(ValueError, match="matches no parameter"):
    optim.make(c, params, lambda s: 1.0)


def test_bfloat16_compute_keeps_float32_params(tmp_path):
  d = tiny_data.write(str(tmp_path / "data"))
  c = tiny_data.config(d, num_steps=3, log_every_steps=1, dtype="bfloat16", grad_accum_steps=2, mixup_alpha=0.2,
                       batch_size=16)
  out = trainer.train(c, str(tmp_path / "w"), quiet=True)
  leaves = jax.tree.leaves(out["state"].params) + jax.tree.leaves(out["state"].opt_state)
  assert all(x.dtype in (jnp.float32, jnp.int32) for x in leaves if hasattr(x, "dtype"))
  assert np.isfinite(out["train"]["loss"])
