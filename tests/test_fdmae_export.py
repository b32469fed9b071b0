"""FD-MAE export: MAMP's key names/shapes (mamp_interop.md) and logit parity with the project's
PyTorch mirror and with an independent model written from MAMP's facts (tests/mamp_reference.py)."""
import jax
import numpy as np
import pytest
import torch
from flax import nnx

from actionjax.config import base_config
from actionjax.export import fdmae as export
from actionjax.models import registry
from mamp_reference import MampTransformer

# mamp_interop.md, depth 8, dim 256, 60 classes.
_ENCODER = {"temp_embed": (1, 30, 1, 256), "pos_embed": (1, 1, 25, 256),
            "joints_embed.proj.weight": (256, 3, 4, 1), "joints_embed.proj.bias": (256,),
            "norm.weight": (256,), "norm.bias": (256,)}
for _i in range(8):
  _ENCODER.update({
      f"blocks.{_i}.norm1.weight": (256,), f"blocks.{_i}.norm1.bias": (256,),
      f"blocks.{_i}.attn.qkv.weight": (768, 256), f"blocks.{_i}.attn.qkv.bias": (768,),
      f"blocks.{_i}.attn.proj.weight": (256, 256), f"blocks.{_i}.attn.proj.bias": (256,),
      f"blocks.{_i}.norm2.weight": (256,), f"blocks.{_i}.norm2.bias": (256,),
      f"blocks.{_i}.mlp.fc1.weight": (1024, 256), f"blocks.{_i}.mlp.fc1.bias": (1024,),
      f"blocks.{_i}.mlp.fc2.weight": (256, 1024), f"blocks.{_i}.mlp.fc2.bias": (256,)})
_LINEAR = {**_ENCODER, "head.fc.weight": (60, 256), "head.fc.bias": (60,)}
_FINETUNE = {**_ENCODER, "head.fc1.weight": (2048, 6400), "head.fc1.bias": (2048,),
             "head.bn.weight": (2048,), "head.bn.bias": (2048,), "head.bn.running_mean": (2048,),
             "head.bn.running_var": (2048,), "head.bn.num_batches_tracked": (),
             "head.fc2.weight": (60, 2048), "head.fc2.bias": (60,)}


def _config(name, head="linear", **kw):
  c = base_config()
  c.model.name, c.model.num_classes = name, kw.pop("num_classes", 60)
  c.model.head = head
  c.model.update(kw)
  c.data.num_frames = 120 if name == "fdmae_classifier" else 240
  return c


def _abstract_model(config):
  """Full-size model with numpy zeros as values: shapes without paying for random init."""
  model = nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0)))
  state = nnx.state(model)
  nnx.update(model, jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), state))
  return model


@pytest.mark.parametrize("head,expected,trainable", [("linear", _LINEAR, 6_351_420),
                                                      ("finetune", _FINETUNE, 19_572_284)])
def test_mamp_keys_and_shapes(head, expected, trainable):
  config = _config("fdmae_classifier", head)
  sd = export.mamp_state_dict(_abstract_model(config), config)
  assert len(sd) == len(expected) == {"linear": 104, "finetune": 111}[head]
  assert {k: tuple(v.shape) for k, v in sd.items()} == expected
  stats = ("running_mean", "running_var", "num_batches_tracked")
  assert sum(v.size for k, v in sd.items() if not k.endswith(stats)) == trainable
  if head == "finetune":
    assert sd["head.bn.num_batches_tracked"].dtype == np.int64


def test_pretrain_exports_encoder_only():
  config = _config("fdmae_pretrain")
  sd = export.mamp_state_dict(_abstract_model(config), config)
  assert {k: tuple(v.shape) for k, v in sd.items()} == _ENCODER


def _tiny(name, head):
  c = _config(name, head, num_classes=7, dim=32, depth=2, num_heads=4, head_hidden=16, freq_recon=False,
              decoder_dim=16, decoder_depth=1, decoder_heads=2, sfr_dim=8, sfr_groups=2)
  c.data.num_frames = 16 if name == "fdmae_classifier" else 32
  model = registry.create(c, rngs=nnx.Rngs(0))
  # Random values everywhere (biases, norms, BN statistics) so that no mapping hides behind 0 / 1.
  rng = np.random.default_rng(1)
  state = nnx.state(model)
  new = jax.tree.map(lambda a: (a + rng.normal(0, 0.2, a.shape)).astype(a.dtype), state)
  if head == "finetune":
    new["head"]["bn"]["var"].set_value(rng.uniform(0.5, 2.0, (16,)).astype(np.float32))
  nnx.update(model, new)
  return model, c


def _inputs(t):
  return np.random.default_rng(2).normal(size=(3, 2, t, 25, 3)).astype(np.float32)


@pytest.mark.parametrize("head", ["linear", "finetune"])
def test_logit_parity(head):
  model, config = _tiny("fdmae_classifier", head)
  x = _inputs(16)
  ref = np.asarray(jax.jit(lambda m, x: m(x)["logits"])(model, x))
  sd = {k: torch.from_numpy(np.asarray(v)) for k, v in export.mamp_state_dict(model, config).items()}
  mirror = export.load_torch(model, config)
  with torch.no_grad():
    np.testing.assert_allclose(mirror(torch.from_numpy(x)).numpy(), ref, atol=1e-4)
    mamp = MampTransformer(num_classes=7, dim_feat=32, depth=2, num_heads=4, num_frames=16,
                           protocol="linprobe" if head == "linear" else "finetune", head_hidden=16)
    mamp.load_state_dict(sd, strict=True)
    out = mamp.eval()(torch.from_numpy(x.transpose(0, 4, 2, 3, 1).copy()))  # (N, C, T, V, M)
  np.testing.assert_allclose(out.numpy(), ref, atol=1e-4)


def test_pretrain_encoder_parity():
  model, config = _tiny("fdmae_pretrain", None)
  x = _inputs(16)  # one path's frames
  ref = np.asarray(jax.jit(lambda m, x: m.encode(x.reshape(6, 16, 25, 3)))(model, x)).reshape(3, 2, 4, 25, 32)
  with torch.no_grad():
    out = export.load_torch(model, config)(torch.from_numpy(x)).numpy()
  np.testing.assert_allclose(out, ref, atol=1e-4)
