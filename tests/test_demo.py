"""`actionjax demo`, shortened: every stage runs and leaves its artefacts; the export matches JAX."""
import json
import os
import re
import subprocess
import sys

from xla_env import xla_flags


def test_demo_short(tmp_path):
  env = dict(os.environ, XLA_FLAGS=xla_flags(1), TF_CPP_MIN_LOG_LEVEL="3")
  r = subprocess.run([sys.executable, "-m", "actionjax.cli", "demo", "--workdir", str(tmp_path),
                      "--samples_per_class=12", "--config.train.num_steps=6", "--config.train.log_every_steps=3",
                      "--config.model.depths=(1,1)", "--config.model.channels=(16,32)"],  # a smaller compile
                     capture_output=True, text=True, env=env, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  out = r.stdout
  assert "== done in" in out and "top-1" in out
  m = json.load(open(tmp_path / "run" / "eval" / "test" / "metrics.json"))
  assert m["step"] == 6 and m["num_samples"] > 0
  assert (tmp_path / "run" / "eval" / "test" / "confusion.png").exists()
  assert len(os.listdir(tmp_path / "raw")) >= 8 * 12
  assert (tmp_path / "fgstformer_demo.pt").stat().st_size > 10000
  diff = float(re.search(r"max \|logit diff\| vs JAX: ([0-9.e+-]+)", out).group(1))
  assert diff < 1e-4
