"""X-STFT PyTorch export: the eval-mode mirror reproduces the JAX logits (float32) for every block
type and both stems, at tiny widths; the state_dict key map and layouts."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from actionjax import config as config_lib
from actionjax.export import keymap
from actionjax.export import xstft as export
from actionjax.export.torch_models import xstft as txs
from actionjax.layers import stft
from model_helpers import random_model

CONFIG = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "xstft.py")


def calibrate(model, torch_model, x):
  """BatchNorm running statistics = those of batch x (a torch train-mode pass with momentum 1),
  copied to the NNX state, so eval-mode activations stay O(1): parity on realistic statistics."""
  bns = [m for m in torch_model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
  for m in bns:
    m.momentum = 1.0
    m.train()
  with torch.no_grad():
    torch_model(torch.from_numpy(x))
  torch_model.eval()
  stats = torch_model.state_dict()
  for path, var in nnx.to_flat_state(nnx.state(model, nnx.BatchStat)):
    key, _ = keymap.torch_entry(path, np.zeros(()))
    var[...] = jnp.asarray(stats[key].numpy())


@pytest.mark.parametrize("net,stem", [("t", "i3d"), ("st", "i3d"), ("s", "stft"), ("fact_dw", "i3d"),
                                      ("relpv", "stft"), ("i3d", "i3d"), ("s3d", "i3d")])
def test_torch_mirror_matches_jax(net, stem):
  # odd frame count and sizes: XLA SAME's uneven split at the stride-2 conv and pools
  config = config_lib.load(f"{CONFIG}:demo,net={net}", [
      f"model.stem={stem}", "model.num_classes=5", "model.modules=((8, 8, 16, 4, 8, 8),)"])
  model = random_model(config, seed=0)
  tm = export.torch_model(config)
  sd = export.state_dict(model, config)
  assert set(sd) == set(tm.state_dict())
  tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()}, strict=True)
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 7, 29, 29, 3)).astype(np.float32)
  calibrate(model, tm, x)
  x = rng.normal(size=x.shape).astype(np.float32)
  y = np.asarray(jax.jit(lambda m, x: m(x)["logits"])(model, jnp.asarray(x)))
  with torch.no_grad():
    yt = tm(torch.from_numpy(x)).numpy()
  assert y.shape == (2, 5)
  assert 0.1 < np.abs(y).max() < 100
  np.testing.assert_allclose(yt, y, rtol=0, atol=1e-4)


def test_state_dict_layouts_and_kernels():
  config = config_lib.load(f"{CONFIG}:demo,net=t")
  model = random_model(config, seed=2)
  sd = export.state_dict(model, config)
  k = np.asarray(model.inception[0].branch1.layers[1].conv.kernel[...])  # depthwise 1x3x3
  np.testing.assert_array_equal(sd["inception.0.branch1.layers.1.conv.weight"], k.transpose(4, 3, 0, 1, 2))
  np.testing.assert_array_equal(sd["head.weight"], np.asarray(model.head.kernel[...]).T)
  assert not any("kernel" in key or "stft" in key for key in sd)
  for variant in ("st", "s", "t"):  # the mirror's Eq. 2 kernels are the JAX layer's
    w = stft.kernel(variant, 3)  # (kt, kh, kw, 1, 2K)
    np.testing.assert_allclose(txs.stft_kernel(variant, 3).numpy(), w.transpose(4, 3, 0, 1, 2), atol=1e-7)
