"""ONNX export (`actionjax export --to onnx`): every exportable model, at tiny sizes, exported through
the function the command uses, runs in onnxruntime and reproduces the JAX logits (1e-4 relative),
at the traced batch and at another (the batch dimension is dynamic); unexportable cases fail in one
clear line."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from actionjax import cli
from actionjax import config as config_lib
from actionjax.export import ExportError
from actionjax.export import onnx as onnx_export
from model_helpers import random_model

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"

# The tiny sizes of the mirrors' parity tests (tests/test_*_export.py).
CASES = {
    "fgstformer": ("fgstformer.py:demo", ["model.person_pool=masked_mean", "model.num_classes=5", "model.depths=(1, 1)",
                                          "model.channels=(16, 32)",
                                          "data.num_frames=16"]),
    # both streams (the dict output with aux logits) and rFA: the FFTs export as ONNX DFT
    "slnl_rfa": ("slnl_rfa.py:demo", ["model.channels=(8, 8, 16, 16)", "model.num_slnl_blocks=1",
                                      "data.num_frames=16"]),
    "fdmae_classifier": ("fdmae.py:demo_finetune", ["data.num_frames=16", "model.head_hidden=16"]),
    "mfst": ("mfst.py:demo", ["model.num_stages=1"]),
    "xstft": ("xstft.py:demo,net=t", ["model.num_classes=5", "model.modules=((8, 8, 16, 4, 8, 8),)",
                                      "data.image_size=29", "data.num_frames=7"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_matches_jax(tmp_path, name):
  spec, overrides = CASES[name]
  config = config_lib.load(f"{CONFIGS / spec}", overrides)
  assert config.model.name == name
  model = random_model(config, seed=0)
  path = onnx_export.export_model(model, config, str(tmp_path / "model.onnx"))  # also checks vs the mirror
  assert onnx_export.summary(path).startswith(f"{name}: inputs float32 ")
  x = onnx_export.example_input(config, batch=3, seed=1)  # not the traced batch of 2
  y = np.asarray(jax.jit(lambda m, x: m(x)["logits"])(model, jnp.asarray(x)))
  session = onnx_export.session(path)
  got = session.run(None, {"inputs": x})[0]
  scale = np.abs(y).max()
  assert y.shape == (3, config.model.num_classes)
  assert 0.1 < scale < 100, scale  # a meaningful, unsaturated comparison
  print(f"{name}: max |onnx - jax| {np.abs(got - y).max():.2g}, relative {np.abs(got - y).max() / scale:.2g}")
  np.testing.assert_allclose(got, y, rtol=1e-4, atol=1e-5 * scale)
  np.testing.assert_allclose(session.run(None, {"inputs": x[:1]})[0], got[:1], rtol=1e-5, atol=1e-6 * scale)


def test_unexportable_models_fail_in_one_line(tmp_path, capsys):
  # the mirror is chosen from the config before any weight is read: no trained model needed
  out = str(tmp_path / "m.onnx")
  config = config_lib.load(f"{CONFIGS / 'fdmae.py'}:demo_pretrain")  # a pre-training run: no classifier
  with pytest.raises(ExportError, match=r"no classifier.*--to mamp"):
    onnx_export.export_model(None, config, out)
  config.model.name = "tiny_classifier"  # the test baselines have no mirror
  with pytest.raises(ExportError, match="has no PyTorch export"):
    onnx_export.export_model(None, config, out)
  assert cli.main(["export", "--workdir", str(tmp_path / "none"), "--to", "onnx", "--out", out]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "no config.json" in err, err


def test_unsupported_operator_is_named(tmp_path):
  import torch

  class Bessel(torch.nn.Module):  # an operator without an ONNX function in torch's registry
    def forward(self, x):
      return torch.special.bessel_j0(x).sum(-1)

  with pytest.raises(ExportError, match=r"^bessel: operator prims\.bessel_j0 does not export to ONNX; .*--to torch"):
    onnx_export.export_module(Bessel(), np.ones((2, 3), np.float32), str(tmp_path / "b.onnx"), name="bessel")
