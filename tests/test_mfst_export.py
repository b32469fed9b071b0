"""MFST PyTorch export: the eval-mode mirror reproduces the JAX logits (float32, within 1e-4)."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from actionjax import config as config_lib
from actionjax.export import mfst as export
from model_helpers import random_model

CONFIG = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "mfst.py")


@pytest.mark.parametrize("arg,overrides", [
    # CDC-ST stem, residual, WMS over t, t/2, t/4, k-NN attention with k < tokens (4 spatial
    # tokens -> k = 2; 8 / 4 / 2 temporal -> k = 5 / 2 / 1)
    ("demo", ("model.num_stages=2",)),
    # RGB-D late fusion, BM (vanilla stem, unshared scales, no residual), the other open choices
    ("demo,modality=rgbd,size=bm", ("model.num_stages=1", "model.temporal_tokens=pooled",
                                    "model.temporal_downsample=stride", "model.temporal_fuse=max",
                                    "model.head_hidden=8", "model.fusion_weights=(0.7,0.3)",
                                    "model.spatial_knn=3")),
    # CDC-T stem on depth
    ("demo,modality=depth", ("model.num_stages=1",)),
])
def test_torch_mirror_matches_jax(arg, overrides):
  config = config_lib.load(f"{CONFIG}:{arg}", list(overrides))
  model = random_model(config, seed=0)
  tm = export.torch_model(config)
  sd = export.state_dict(model, config)
  assert set(sd) == set(tm.state_dict())
  tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()}, strict=True)
  c = 3 * ("rgb" in config.data.modalities) + ("depth" in config.data.modalities)
  x = np.random.default_rng(1).normal(size=(2, 8, 32, 32, c)).astype(np.float32)
  y = np.asarray(jax.jit(lambda m, x: m(x)["logits"])(model, jnp.asarray(x)))
  with torch.no_grad():
    yt = tm(torch.from_numpy(x)).numpy()
  assert y.shape == (2, config.model.num_classes)
  assert 0.1 < np.abs(y).max() < 100, np.abs(y).max()  # a meaningful, unsaturated comparison
  np.testing.assert_allclose(yt, y, rtol=0, atol=1e-4)


def test_state_dict_layouts():
  config = config_lib.load(f"{CONFIG}:demo", ["model.num_stages=1"])
  model = random_model(config, seed=2)
  sd = export.state_dict(model, config)
  k = np.asarray(model.rgb.conv1.kernel[...])
  np.testing.assert_array_equal(sd["rgb.conv1.weight"], k.transpose(4, 3, 0, 1, 2))
  q = np.asarray(model.rgb.stages[0].spatial.blocks[0].attn.qkv.kernel[...])
  np.testing.assert_array_equal(sd["rgb.stages.0.spatial.blocks.0.attn.qkv.weight"], q.T)
  assert "rgb.stages.0.inception.0.b3.bn.running_var" in sd
  assert "rgb.stages.0.temporal.0.blocks.0.norm1.weight" in sd
