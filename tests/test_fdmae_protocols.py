"""FD-MAE protocols through the one trainer on synthetic data: pre-train -> linear probe (frozen
encoder) and -> fine-tune; workdir exports load into the MAMP reference model with strict=True."""
import os

import jax
import numpy as np
import pytest
import torch

import actionjax
from actionjax import config as config_lib
from actionjax import export
from actionjax.training import setup as setup_lib
from actionjax.training import trainer
from mamp_reference import MampTransformer

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "fdmae.py")

ONE = jax.devices()[:1]  # the protocols do not depend on the mesh (sharding: test_trainer)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, synthetic_ntu60):
  root = tmp_path_factory.mktemp("fdmae")
  data = synthetic_ntu60
  def cfg(stage, steps, **extra):
    c = config_lib.load(f"{CONFIG}:demo_{stage}", [f"train.num_steps={steps}", f"data.dir={data}",
                                                   "train.log_every_steps=1"])
    for k, v in extra.items():
      config_lib.apply_overrides(c, [f"{k}={v}"])
    return c
  out = {"pre": trainer.train(cfg("pretrain", 3), str(root / "pre"), quiet=True, devices=ONE)}
  for stage in ("linear", "finetune"):
    out[stage] = trainer.train(cfg(stage, 2, **{"init.checkpoint": str(root / "pre")}), str(root / stage),
                               quiet=True, devices=ONE)
  return root, out


def test_pretrain_loss_is_finite_and_ema_moves(runs):
  _, out = runs
  s = out["pre"]["state"]
  assert np.isfinite(out["pre"]["train"]["loss"])
  p, e = setup_lib.flat(jax.device_get(s.params)), setup_lib.flat(jax.device_get(s.ema))
  assert max(float(np.abs(p[k] - e[k]).max()) for k in p) > 0  # the target lags the online net


def test_linear_probe_keeps_the_pretrained_encoder(runs):
  _, out = runs
  pre = setup_lib.flat(jax.device_get(out["pre"]["state"].params))
  lin = setup_lib.flat(jax.device_get(out["linear"]["state"].params))
  ft = setup_lib.flat(jax.device_get(out["finetune"]["state"].params))
  shared = [k for k in lin if not k.startswith("head.")]
  assert shared and all(k in pre for k in shared)
  assert all(np.array_equal(lin[k], pre[k]) for k in shared)  # frozen: bit-identical
  assert any(not np.array_equal(ft[k], pre[k]) for k in shared)  # fine-tuning moves it


@pytest.mark.parametrize("stage", ["linear", "finetune"])
def test_mamp_export_of_workdir_loads_strict_and_matches(runs, stage):
  root, _ = runs
  workdir = str(root / stage)
  model, config = actionjax.load(workdir)
  x = np.random.default_rng(1).standard_normal((2, 2, config.data.num_frames, 25, 3)).astype(np.float32)
  ref = np.asarray(model(x)["logits"])
  path = export.export_file(workdir, to="mamp", out=str(root / f"{stage}.pt"))
  sd = torch.load(path)
  m = config.model
  mamp = MampTransformer(num_classes=m.num_classes, dim_feat=m.dim, depth=m.depth, num_heads=m.num_heads,
                         num_frames=config.data.num_frames, protocol="linprobe" if stage == "linear" else "finetune",
                         head_hidden=m.head_hidden)
  mamp.load_state_dict(sd, strict=True)
  with torch.no_grad():
    out = mamp.eval()(torch.from_numpy(x.transpose(0, 4, 2, 3, 1).copy())).numpy()
  np.testing.assert_allclose(out, ref, atol=1e-4)


def test_pretrain_mamp_export_is_encoder_only(runs):
  root, _ = runs
  sd = export.state_dict(str(root / "pre"), to="mamp")
  assert "pos_embed" in sd and "blocks.0.attn.qkv.weight" in sd
  assert not any(k.startswith(("head", "decoder", "mask_token")) for k in sd)
