"""The Python API (actionjax.train / evaluate / load / export.*) on the CLI's code paths: same
results as the command line on the same config; a light `import actionjax`; library noise kept out
of the terminal unless ACTIONJAX_DEBUG / --debug; `train.profile_steps` writes a profiler trace."""
import glob
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import actionjax
import tiny_data
from actionjax import cli
from actionjax.config import ConfigError
from test_cli import env, write_config

ONE = jax.devices()[:1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return tiny_data.write(str(tmp_path_factory.mktemp("tiny")))


def _losses(workdir):
  return [l["train/loss"] for l in map(json.loads, open(os.path.join(workdir, "metrics.jsonl"))) if "train/loss" in l]


def test_api_equals_cli(tmp_path, data_dir):
  cfg = write_config(tmp_path, data_dir, num_steps=2, log_every_steps=1)
  assert cli.main(["train", "--config", cfg, "--workdir", str(tmp_path / "cli"), "--quiet",
                   "--config.train.num_steps=3", "--config.optimizer.momentum=0.5"]) == 0
  out = actionjax.train(cfg, str(tmp_path / "api"), quiet=True, train__num_steps=3, **{"optimizer.momentum": 0.5})
  assert out["step"] == 3 and out["stopped_by"] == "end" and "state" not in out
  assert _losses(tmp_path / "api") == _losses(tmp_path / "cli") and len(_losses(tmp_path / "cli")) == 3
  (m_cli, c_cli), (m_api, c_api) = actionjax.load(str(tmp_path / "cli")), actionjax.load(str(tmp_path / "api"))
  assert c_api.optimizer.momentum == c_cli.optimizer.momentum == 0.5 and c_api.train.num_steps == 3
  d = c_cli.data
  x = np.random.default_rng(0).normal(size=(2, d.max_persons, d.num_frames, d.num_joints, d.channels)).astype(np.float32)
  eager = np.asarray(m_cli(x)["logits"])
  np.testing.assert_array_equal(np.asarray(m_api(x)["logits"]), eager)
  np.testing.assert_allclose(actionjax.predict(m_cli, x), eager, rtol=1e-5, atol=1e-6)  # compiled
  assert cli.main(["evaluate", "--workdir", str(tmp_path / "cli")]) == 0
  metrics = actionjax.evaluate(str(tmp_path / "api"))
  saved = json.load(open(tmp_path / "cli" / "eval" / "test" / "metrics.json"))
  for k in ("top1", "top5", "mean_class_accuracy", "num_samples", "step"):
    assert metrics[k] == saved[k], k
  with pytest.raises(ConfigError, match="unknown config key 'train.num_step'"):
    actionjax.train(cfg, str(tmp_path / "bad"), train__num_step=3)


def test_import_is_light_and_submodules_resolve():
  code = ("import sys, actionjax\n"
          "heavy = [m for m in ('jax', 'tensorflow', 'torch', 'matplotlib') if m in sys.modules]\n"
          "assert not heavy, heavy\n"
          "assert callable(actionjax.export.to_torch) and callable(actionjax.export.to_onnx)\n"
          "assert callable(actionjax.viz.plot_confusion)\n"
          "assert 'torch' not in sys.modules\n")
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(1), timeout=120)
  assert r.returncode == 0, r.stderr


def _quiet_env(**extra):
  e = env(1)
  e.pop("TF_CPP_MIN_LOG_LEVEL")  # as a user's shell has it
  e.update(extra)
  return e


def test_library_noise_stays_out_unless_debugging(tmp_path, data_dir):
  actionjax.train(tiny_data.config(data_dir, num_steps=1), str(tmp_path / "w"), quiet=True, devices=ONE)
  load = [sys.executable, "-c", f"import actionjax; actionjax.load({str(tmp_path / 'w')!r})"]
  r = subprocess.run(load, capture_output=True, text=True, env=_quiet_env(), timeout=300)
  assert r.returncode == 0 and r.stderr == "", r.stderr
  r = subprocess.run(load, capture_output=True, text=True, env=_quiet_env(ACTIONJAX_DEBUG="1"), timeout=300)
  assert "read_only=True" in r.stderr  # orbax's warning, back for debugging
  # a data error raised after TensorFlow has loaded: one line, nothing from TF's C++ logs before it
  cfg = write_config(tmp_path, str(tmp_path / "no_data"))
  r = subprocess.run([sys.executable, "-m", "actionjax.cli", "train", "--config", cfg, "--workdir", str(tmp_path / "x")],
                     capture_output=True, text=True, env=_quiet_env(), timeout=300)
  assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_profile_steps_write_a_trace(tmp_path, data_dir):
  c = tiny_data.config(data_dir, num_steps=3, log_every_steps=1)
  c.train.profile_steps = (2, 3)
  actionjax.train(c, str(tmp_path / "w"), quiet=True, devices=ONE)
  run = glob.glob(str(tmp_path / "w" / "profile" / "plugins" / "profile" / "*"))
  assert len(run) == 1
  for pattern in ("*.xplane.pb", "perfetto_trace.json.gz"):
    files = glob.glob(os.path.join(run[0], pattern))
    assert len(files) == 1 and os.path.getsize(files[0]) > 1000, pattern
  with pytest.raises(ConfigError, match=r"train.profile_steps=\(3, 2\) must be two steps"):
    actionjax.train(c, str(tmp_path / "v"), train__profile_steps=(3, 2))
