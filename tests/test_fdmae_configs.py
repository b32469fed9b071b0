"""configs/fdmae.py: every variant validates; linear probing freezes the encoder; layer-wise LR
decay follows MAMP; pre-train and evaluation encoders have the same shapes (init.checkpoint)."""
import jax
import numpy as np
import pytest
from flax import nnx

from actionjax import config as config_lib
from actionjax.models import registry
from actionjax.training import optim

SPEC = "configs/fdmae.py"


def _variants():
  import importlib.util
  spec = importlib.util.spec_from_file_location("fdmae_cfg", SPEC)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.VARIANTS


def _abstract(config):
  return nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0)))


def _flat(tree) -> dict:
  """'blocks.0.attn.qkv.kernel' -> leaf (nnx State leaves carry a '..value' suffix)."""
  return {optim.path_str(p).removesuffix("..value"): v for p, v in jax.tree_util.tree_leaves_with_path(tree)}


def test_all_variants_validate():
  variants = _variants()
  assert len(variants) == 4 * 5 + 3
  for v in variants:
    c = config_lib.load(f"{SPEC}:{v}")
    config_lib.validate(c, num_devices=8)
    stage = v.rsplit("_", 1)[1]
    if stage == "pretrain":
      assert c.loss.name == "model" and c.train.ema_decay > 0 and c.data.num_frames % 2 == 0
    else:
      assert c.model.name == "fdmae_classifier" and c.init.checkpoint == ""
    if stage in ("semi1", "semi10"):
      assert c.data.label_fraction == {"semi1": 0.01, "semi10": 0.1}[stage]
    if v.startswith("demo"):
      assert c.data.synthetic == "ntu60" and "~" not in c.data.dir and c.model.num_classes == 8
  assert config_lib.load(f"{SPEC}:ntu120_xsub_pretrain").model.decoder_depth == 5
  c = config_lib.load(f"{SPEC}:ntu60_xsub_pretrain,model.mask_ratio=0.9,model.tube_len=5")
  assert (c.model.mask_ratio, c.model.tube_len) == (0.9, 5)


@pytest.mark.parametrize("data", ["ntu60_xsub", "demo"])
def test_pretrain_encoder_fits_classifiers(data):
  pre = _abstract(config_lib.load(f"{SPEC}:{data}_pretrain"))
  src = {p: v for p, v in nnx.to_flat_state(nnx.state(pre, nnx.Param))}
  for stage in ("linear", "finetune"):
    clf = _abstract(config_lib.load(f"{SPEC}:{data}_{stage}"))
    dst = dict(nnx.to_flat_state(nnx.state(clf, nnx.Param)))
    mapped = {clf.init_key_map(p): v for p, v in src.items() if clf.init_key_map(p) is not None}
    assert set(mapped) == {p for p in dst if p[0] != "head"}
    assert all(mapped[p].shape == dst[p].shape for p in mapped)


def test_linear_freeze_and_finetune_layer_decay():
  c = config_lib.load(f"{SPEC}:ntu60_xsub_linear")
  params = nnx.state(_abstract(c), nnx.Param)
  frozen = optim.frozen_mask(params, c.optimizer.freeze)
  flat = _flat(frozen)
  assert {k for k, f in flat.items() if not f} == {"head.fc.kernel", "head.fc.bias"}
  c = config_lib.load(f"{SPEC}:ntu60_xsub_finetune")
  model = _abstract(c)
  scales = optim.layer_scales(nnx.state(model, nnx.Param), model, c.optimizer.layer_decay)
  flat = _flat(scales)
  np.testing.assert_allclose(flat["pos_embed"], 0.8 ** 9)
  np.testing.assert_allclose(flat["joints_embed.proj.kernel"], 0.8 ** 9)
  np.testing.assert_allclose(flat["blocks.0.attn.qkv.kernel"], 0.8 ** 8)
  np.testing.assert_allclose(flat["blocks.7.mlp.fc2.bias"], 0.8 ** 1)
  np.testing.assert_allclose(flat["head.fc1.kernel"], 1.0)
  np.testing.assert_allclose(flat["norm.scale"], 1.0)
