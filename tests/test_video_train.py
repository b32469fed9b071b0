"""Video through the one trainer: uint batches normalised in the step, exact resume, evaluation."""
import jax
import numpy as np
import pytest

from actionjax.training import setup as setup_lib
from actionjax.training import trainer
from tiny_video_data import depth_frames, rgb_frames, video_config, write_records


@pytest.fixture(scope="module")
def rgbd_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("rgbd_train"))
  samples = [(f"s{i}", i % 4, rgb_frames(12 + i, 24, 32), depth_frames(12 + i, 24, 32))
             for i in range(12)]
  write_records(d, samples)
  return d


def _config(d, **train):
  c = video_config(d, num_frames=4, image_size=16)
  c.data.train_split = c.data.eval_split = "train"
  c.train.update(batch_size=8, num_steps=6, checkpoint_every_steps=100, log_every_steps=2, **train)
  c.schedule.update(name="constant", base_lr=0.05, warmup_steps=0)
  return c


def test_video_resume_is_exact_and_depth_max_resolved(rgbd_dir, tmp_path):
  c = _config(rgbd_dir)
  assert c.data.depth_max == 0.0
  straight = trainer.train(c.copy_and_resolve_references(), str(tmp_path / "a"), quiet=True)
  first = trainer.train(c.copy_and_resolve_references(), str(tmp_path / "b"), quiet=True, stop_at=3)
  assert first["step"] == 3
  resumed = trainer.train(c.copy_and_resolve_references(), str(tmp_path / "b"), quiet=True)
  flat = lambda s: setup_lib.flat(jax.device_get(s.params))
  a, b = flat(straight["state"]), flat(resumed["state"])
  assert all(np.array_equal(a[k], b[k]) for k in a)
  assert any(not np.array_equal(a[k], v) for k, v in flat(setup_lib.init_state(setup_lib.build(
      c, trainer.sharding.make_mesh(c)))).items())  # it trained
  import json
  saved = json.load(open(tmp_path / "a" / "config.json"))
  assert saved["data"]["depth_max"] == 4500.0  # from dataset_info.json


def test_unknown_depth_scale_asks_for_depth_max(rgbd_dir):
  c = _config(rgbd_dir)
  with pytest.raises(trainer.TrainError, match="set --config.data.depth_max"):
    trainer.resolve_depth_max(c, {"modalities": ["rgb", "depth"], "depth_bits": [16]})
  c.data.depth_max = 1000.0
  trainer.resolve_depth_max(c, {})  # an explicit value is kept
  assert c.data.depth_max == 1000.0


def test_video_eval_through_the_trainer(rgbd_dir, tmp_path):
  c = _config(rgbd_dir, eval_every_steps=6)
  out = trainer.train(c, str(tmp_path), quiet=True)
  assert out["eval"]["num_samples"] == 12


def test_video_demo_config_learns_synthetic_video(tmp_path, monkeypatch):
  """configs/tiny_video.py:demo end to end: synthetic NTU-format video generated, prepared and
  trained through the trainer; the loss falls."""
  import json
  from actionjax import config as config_lib
  monkeypatch.setenv("ACTIONJAX_CACHE", str(tmp_path / "cache"))
  c = config_lib.load("configs/tiny_video.py:demo", [
      f"data.dir={tmp_path / 'data'}", "model.num_classes=4", "train.num_steps=30",
      "train.log_every_steps=5", "train.batch_size=8"])
  trainer.train(c, str(tmp_path / "run"), quiet=True, devices=jax.devices()[:1])  # sharding: below
  lines = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
  losses = [l["train/loss"] for l in lines if "train/loss" in l]
  assert len(losses) == 6
  assert np.mean(losses[-2:]) < 0.6 * losses[0], losses
