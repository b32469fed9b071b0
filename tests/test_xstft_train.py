"""configs/xstft.py:demo end to end: synthetic NTU-format video generated, prepared and trained
through the one trainer (uint8 batches normalised in the step, SGD with dampening 0.9); the loss
falls."""
import json

import jax
import numpy as np

from actionjax import config as config_lib
from actionjax.training import trainer


def test_xstft_demo_config_learns_synthetic_video(tmp_path, monkeypatch):
  monkeypatch.setenv("ACTIONJAX_CACHE", str(tmp_path / "cache"))
  c = config_lib.load("configs/xstft.py:demo", [
      f"data.dir={tmp_path / 'data'}", "model.num_classes=4", "train.num_steps=30",
      "train.log_every_steps=5", "train.batch_size=8",
      "model.modules=((8, 8, 16, 4, 8, 8),)", "data.image_size=32", "data.num_frames=6"])
  assert c.optimizer.dampening == 0.9 and c.model.block == "t"
  trainer.train(c, str(tmp_path / "run"), quiet=True, devices=jax.devices()[:1])  # sharding: test_trainer
  lines = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
  losses = [l["train/loss"] for l in lines if "train/loss" in l]
  assert len(losses) == 6
  assert np.mean(losses[-2:]) < 0.6 * losses[0], losses
  # the trained workdir through the export path (`actionjax export --to torch`): same logits
  import jax.numpy as jnp
  import torch
  from actionjax import load
  from actionjax.export import to_torch
  model, _ = load(str(tmp_path / "run"))
  tm = to_torch(str(tmp_path / "run"))
  x = np.random.default_rng(0).normal(size=(2, 6, 32, 32, 3)).astype(np.float32)
  y = np.asarray(model(jnp.asarray(x))["logits"])
  with torch.no_grad():
    np.testing.assert_allclose(tm(torch.from_numpy(x)).numpy(), y, rtol=0, atol=1e-4)
  # ... and `actionjax export --to onnx` (tests/test_onnx_export.py covers every model): onnxruntime
  # reproduces them
  from actionjax import cli
  from actionjax.export import onnx as onnx_export
  out = str(tmp_path / "xstft.onnx")
  assert cli.main(["export", "--workdir", str(tmp_path / "run"), "--to", "onnx", "--out", out]) == 0
  got = onnx_export.session(out).run(None, {"inputs": x})[0]
  np.testing.assert_allclose(got, y, rtol=1e-4, atol=1e-5 * np.abs(y).max())
