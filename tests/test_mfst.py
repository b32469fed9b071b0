"""MFST model (§III): sizes against Table III, weight sharing of WMS-Trans, stems per modality,
ablation switches, RGB-D late fusion (in-model and by sample name), and the demo config learning."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from actionjax import config as config_lib
from actionjax.models import registry

CONFIG = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "mfst.py")


def _config(arg="demo", *overrides):
  return config_lib.load(f"{CONFIG}:{arg}", list(overrides))


SMALL = ("model.num_stages=1", "data.num_frames=4", "data.image_size=16")


def _abstract(config):
  return nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0)))


def _params(config) -> int:
  m = _abstract(config)
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(m, nnx.Param)))


@pytest.mark.parametrize("size,table", [("base", 32.6e6), ("large", 49.7e6)])
def test_sizes_land_on_table_iii(size, table):
  """RGB, NTU-60 (60 classes), 32 frames: within 10% of Table III (here within 1%)."""
  n = _params(_config(f"ntu60_xsub,size={size}"))
  assert abs(n - table) / table < 0.01, n


def test_wms_shares_weights_over_scales():
  one = _params(_config("demo", "model.temporal_scales=(1,)"))
  three = _params(_config("demo", "model.temporal_scales=(1,2,4)"))
  assert one == three  # one transformer for t, t/2, t/4
  unshared = _params(_config("demo", "model.temporal_scales=(1,2,4)", "model.temporal_block=unshared"))
  assert unshared > three  # MFST-BM: one transformer per scale


def test_stems_and_sizes():
  rgb = _abstract(_config("demo"))
  depth = _abstract(_config("demo,modality=depth"))
  bm = _abstract(_config("demo,size=bm"))
  assert (rgb.rgb.conv1.cdc, rgb.rgb.conv1.theta, rgb.rgb.conv2.cdc) == ("st", 0.6, None)
  assert depth.depth.conv1.cdc == depth.depth.conv3.cdc == "t" and depth.rgb is None
  assert bm.rgb.conv1.cdc is None and not bm.rgb.stages[0].residual
  assert len(bm.rgb.stages[0].temporal) == 3
  assert len(_abstract(_config("demo,size=large")).rgb.stages) == 4


def test_ablation_switches():
  """Tables III-VI switches reach the modules: stem / theta (IV), residual (V), WMS vs vanilla
  transformer (VI), number of stages (III). Numerically, the parity tests run both the full
  (CDC, residual, shared WMS) and the BM (vanilla stem, no residual, unshared) forms."""
  m = _abstract(_config("demo", "model.stem=cdc_t", "model.theta=0.8", "model.residual=false",
                        "model.temporal_block=vanilla", "model.num_stages=2"))
  assert (m.rgb.conv1.cdc, m.rgb.conv1.theta, m.rgb.conv3.cdc) == ("t", 0.8, "t")
  assert len(m.rgb.stages) == 2 and not m.rgb.stages[0].residual
  assert m.rgb.stages[0].scales == (1,) and len(m.rgb.stages[0].temporal) == 1
  assert _abstract(_config("demo", "model.stem=vanilla")).rgb.conv1.cdc is None


def _forward(config, x):
  from model_helpers import random_model  # abstract init + numpy values: no eager RNG init
  return jax.jit(lambda m, x: m(x))(random_model(config, seed=0), x)


def test_rgbd_model_fuses_two_streams():
  c = _config("demo,modality=rgbd", *SMALL, "model.fusion_weights=(1.0,0.5)")
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 4, 16, 16, 4)), jnp.float32)
  out = _forward(c, x)
  rgb, depth = out["aux_logits"]
  np.testing.assert_allclose(out["logits"], rgb + 0.5 * depth, atol=1e-6)


def test_rgbd_late_fusion_by_sample_name(tmp_path):
  """`actionjax ensemble` aligns the RGB and depth runs' scores by name before the weighted sum."""
  from actionjax import scoring
  rng = np.random.default_rng(0)
  names = np.array([f"S001C001P001R001A{i:03d}" for i in range(6)])
  labels = np.arange(6) % 3
  rgb, depth = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
  perm = rng.permutation(6)
  np.savez(tmp_path / "rgb.npz", names=names, labels=labels, logits=rgb)
  np.savez(tmp_path / "depth.npz", names=names[perm], labels=labels[perm], logits=depth[perm])
  out_names, out_labels, fused = scoring.ensemble([str(tmp_path / "rgb.npz"), str(tmp_path / "depth.npz")],
                                                   [1.0, 1.0])
  order = np.argsort(names)
  assert list(out_names) == list(names[order])
  np.testing.assert_allclose(fused, (rgb + depth)[order], atol=1e-5)


@pytest.mark.parametrize("variant", ["ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "isogd"])
def test_configs_follow_the_recipe(variant):
  for modality, channels in [("rgb", ("rgb",)), ("depth", ("depth",)), ("rgbd", ("rgb", "depth"))]:
    for size, stages in [("base", 3), ("large", 4), ("bm", 3)]:
      c = _config(f"{variant},modality={modality},size={size}")
      config_lib.validate(c)
      assert tuple(c.data.modalities) == channels and c.model.num_stages == stages
  c = _config(variant)
  assert (c.data.num_frames, c.data.image_size, c.data.flip) == (32, 224, False)
  assert (c.optimizer.name, c.optimizer.momentum, c.optimizer.weight_decay) == ("sgd", 0.9, 3e-4)
  assert (c.schedule.name, c.schedule.base_lr, c.schedule.warmup_epochs) == ("warmup_cosine", 0.01, 3.0)
  assert c.train.num_epochs == 100 and c.train.mixup_alpha > 0
  assert c.model.num_classes == {"isogd": 249, "ntu120_xsub": 120, "ntu120_xset": 120}.get(variant, 60)
