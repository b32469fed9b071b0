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
