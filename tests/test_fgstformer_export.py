"""FG-STFormer PyTorch export: the eval-mode mirror reproduces the JAX logits (float32)."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx

from actionjax import config as config_lib
from actionjax.export import fgstformer as export
from actionjax.export.torch_models import fgstformer as tfg
from model_helpers import random_model

CONFIG = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "fgstformer.py")


def calibrate(model, torch_model, x):
  """Sets every BatchNorm's running statistics to those of batch x (a torch train-mode pass with
  momentum 1) so eval-mode activations stay O(1) through 16 residual blocks, and copies them to
  the NNX state: a parity check on realistic, non-trivial statistics."""
  original = tfg.BatchNormLast.forward

  def forward(self, inp):
    y = F.batch_norm(inp.reshape(-1, inp.shape[-1]), self.running_mean, self.running_var,
                     self.weight, self.bias, True, 1.0, 1e-5)
    return y.reshape(inp.shape)

  tfg.BatchNormLast.forward = forward
  try:
    with torch.no_grad():
      torch_model(torch.from_numpy(x))
  finally:
    tfg.BatchNormLast.forward = original
  stats = torch_model.state_dict()
  for path, var in nnx.to_flat_state(nnx.state(model, nnx.BatchStat)):
    key, _ = export._convert(path, np.zeros(()))
    var[...] = jnp.asarray(stats[key].numpy())


@pytest.mark.parametrize("variant,overrides", [
    ("ntu60_xsub", ()),  # full paper widths and depths, short T
    ("demo", ("model.person_pool=masked_mean", "model.num_classes=5")),
])
def test_torch_mirror_matches_jax(variant, overrides):
  config = config_lib.load(f"{CONFIG}:{variant}", overrides)
  model = random_model(config, seed=0)
  tm = export.torch_model(config)
  sd = export.state_dict(model, config)
  tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()}, strict=True)
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, config.data.max_persons, 16, config.data.num_joints, 3)).astype(np.float32)
  x[1, 1:] = 0  # a single-actor sample
  calibrate(model, tm, x)
  x = rng.normal(size=x.shape).astype(np.float32) * (x != 0)
  y = np.asarray(jax.jit(lambda m, x: m(x)["logits"])(model, jnp.asarray(x)))
  with torch.no_grad():
    yt = tm(torch.from_numpy(x)).numpy()
  assert y.shape == (2, config.model.num_classes)
  assert 0.1 < np.abs(y).max() < 100  # a meaningful, unsaturated comparison
  np.testing.assert_allclose(yt, y, rtol=0, atol=1e-4)


def test_state_dict_layouts():
  config = config_lib.load(f"{CONFIG}:demo")
  model = random_model(config, seed=2)
  sd = export.state_dict(model, config)
  k = np.asarray(model.stage1[0].tformer.tcn[1].kernel[...])
  np.testing.assert_array_equal(sd["stage1.0.tformer.tcn.1.weight"], k.transpose(3, 2, 0, 1))
  np.testing.assert_array_equal(sd["fc2.weight"], np.asarray(model.fc2.kernel[...]).T)
  assert "stage1.0.sformer.norm1.bn.running_var" in sd and "w_p" in sd
  assert set(sd) == set(export.torch_model(config).state_dict())


def test_train_mode_gradients_match_the_mirror():
  """Train-mode loss and every parameter's gradient (the focal selection's included) equal the
  PyTorch mirror's autograd: the update rule's input is the paper code's. Biases directly before
  a BatchNorm have an exact-zero true gradient (the norm removes them); both frameworks return
  float32 noise there, so those are compared by magnitude only."""
  config = config_lib.load(f"{CONFIG}:nwucla", ["model.channels=(8,16,16)", "model.depths=(2,1)",
                                                "model.num_focal=5", "model.spatial_qk_features=(4,2,4)",
                                                "model.hidden=8", "model.num_classes=3"])
  model = random_model(config, seed=1)
  tm = export.torch_model(config)
  tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in export.state_dict(model, config).items()})
  tm.train()
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, size=(4, 1, 16, 20, 3)).astype(np.float32)
  y = np.array([0, 1, 2, 0])
  gd, params, rest = nnx.split(model, nnx.Param, ...)

  def loss_fn(p):
    logits = nnx.merge(gd, p, rest, copy=True)(jnp.asarray(x), train=True)["logits"]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), y])

  loss, grads = jax.jit(jax.value_and_grad(loss_fn))(params)
  torch_loss = F.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
  torch_loss.backward()
  np.testing.assert_allclose(float(loss), torch_loss.item(), rtol=1e-5)
  ours = export.state_dict(nnx.merge(gd, grads, rest, copy=True), config)
  scale = max(float(np.abs(v).max()) for v in ours.values())
  checked = 0
  for name, p in tm.named_parameters():
    a, b = ours[name], p.grad.numpy()
    if np.linalg.norm(a) < 1e-5 * scale:  # a bias before a BatchNorm
      assert np.abs(b).max() < 1e-5 * scale, name
      continue
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-4 * np.abs(a).max(), err_msg=name)
    checked += 1
  assert checked > 40 and np.linalg.norm(ours["w_p"]) > 0
