"""SLnL-rFA PyTorch mirror: eval-mode logits within 1e-4 of the JAX model (float32)."""
import os

import jax
import numpy as np
import pytest
import torch
from flax import nnx

from actionjax import config as config_lib
from actionjax.export import slnl_rfa as export
from actionjax.models import registry
from model_helpers import eval_forward, train_forward

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "slnl_rfa.py")


def _rngs(seed):
  # rbg keys: the eager per-shape initialiser compiles cost half of threefry's (test time only).
  return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _randomise(model, seed):
  """Non-zero W_w everywhere and non-trivial BatchNorm affine parameters and statistics."""
  rng = np.random.default_rng(seed)
  for _, m in nnx.iter_modules(model):
    if isinstance(m, nnx.Linear) and m.kernel[...].shape[0] == m.kernel[...].shape[1] and m.bias is None:
      m.kernel[...] = rng.normal(size=m.kernel[...].shape).astype(np.float32) * 0.2
    if isinstance(m, nnx.BatchNorm):
      n = m.mean[...].shape
      m.mean[...] = rng.normal(size=n).astype(np.float32) * 0.3
      m.var[...] = rng.uniform(0.5, 2.0, size=n).astype(np.float32)
      m.scale[...] = rng.uniform(0.5, 1.5, size=n).astype(np.float32)
      m.bias[...] = rng.normal(size=n).astype(np.float32) * 0.1


def _compare(c, model, x):
  tm = export.torch_model(c)
  sd = {k: torch.tensor(v) for k, v in export.state_dict(model, c).items()}
  tm.load_state_dict(sd, strict=True)  # every key maps, none is missing
  with torch.no_grad():
    t_out = tm(torch.tensor(np.asarray(x)))
  j_out = eval_forward(model, x)
  assert set(t_out) == set(j_out)
  np.testing.assert_allclose(t_out["logits"].numpy(), j_out["logits"], atol=1e-4, rtol=0)
  for a, b in zip(t_out.get("aux_logits", ()), j_out.get("aux_logits", ())):
    np.testing.assert_allclose(a.numpy(), b, atol=1e-4, rtol=0)
  return np.asarray(j_out["logits"])


def _x(c, b, seed=0):
  shape = (b, c.data.max_persons, c.data.num_frames, c.data.num_joints, c.data.channels)
  return jax.numpy.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def test_parity_demo_after_training_forwards():
  c = config_lib.load(f"{CONFIG}:demo")
  model = registry.create(c, rngs=_rngs(0))
  x = _x(c, 3)
  for i in range(3):  # train-mode passes move the BatchNorm running statistics
    train_forward(model, x * (1.0 + i), jax.random.key(i))
  assert np.abs(np.asarray(model.streams[0].blocks[0].bn.var[...]) - 1.0).max() > 0.1
  before = _compare(c, model, x)
  _randomise(model, 1)  # W_w != 0: the non-local modules now contribute
  after = _compare(c, model, x)
  assert np.abs(after - before).max() > 1e-2


@pytest.mark.parametrize("model_cfg", [
    # Pos-N stream, CNN-V transform, aFA, parallel layout, tSLnL + sSLnL, even kernel (XLA SAME
    # split), odd T (pool floor), SE-style gate, mean over persons, no input BN.
    dict(streams="pos", transform="cnn", frequency_attention="afa", block_layout="parallel_ts",
         fa_hidden_act="relu", person_pool="mean", kernel_sizes=(5, 4, 3), input_bn=False,
         nonlocal_kinds=("temporal", "spatial")),
    # Vel-N stream, S-T transform, sFA, stSLnL in every block.
    dict(streams="vel", transform="skeleton", frequency_attention="sfa",
         nonlocal_kinds=("spatiotemporal",), num_slnl_blocks=3),
])
def test_parity_ablation_variants(model_cfg):
  c = config_lib.load(f"{CONFIG}:demo")
  c.data.num_frames, c.data.num_joints = 9, 5
  c.model.update(num_classes=5, num_coords=2, num_new_joints=6, channels=(8, 8, 16),
                 kernel_sizes=(3, 3, 3), num_slnl_blocks=1, fa_ratio=4)
  c.model.update(**model_cfg)
  model = registry.create(c, rngs=_rngs(2))
  _randomise(model, 3)
  _compare(c, model, _x(c, 2, seed=4))
