"""MFST's demo config through the one trainer on generated NTU-format video: the loss falls."""
import json
import pathlib

import jax
import numpy as np

from actionjax import config as config_lib

CONFIG = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "mfst.py")


def test_demo_config_learns_synthetic_video(tmp_path, monkeypatch):
  """configs/mfst.py:demo through the trainer on generated NTU-format video: the loss falls."""
  from actionjax.training import trainer
  monkeypatch.setenv("ACTIONJAX_CACHE", str(tmp_path / "cache"))
  c = config_lib.load(f"{CONFIG}:demo", [f"data.dir={tmp_path / 'data'}", "model.num_classes=4", "model.num_stages=1",
      "train.num_steps=40", "train.log_every_steps=5"])
  trainer.train(c, str(tmp_path / "run"), quiet=True, devices=jax.devices()[:1])  # sharding: test_trainer
  lines = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
  losses = [l["train/loss"] for l in lines if "train/loss" in l]
  assert len(losses) == 8
  assert np.mean(losses[-2:]) < 0.6 * losses[0], losses
