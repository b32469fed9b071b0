"""Reading runs back: actionjax.load, checkpoint selection, corrupt-checkpoint fallback."""
import glob
import os

import jax
import numpy as np
import pytest

import actionjax
import tiny_data
from actionjax import workdir as workdir_lib
from actionjax.training import checkpoint as ckpt_lib
from actionjax.training import trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  root = tmp_path_factory.mktemp("run")
  d = tiny_data.write(str(root / "data"))
  c = tiny_data.config(d, num_steps=4, checkpoint_every_steps=2)
  out = trainer.train(c, str(root / "w"), quiet=True)
  return str(root / "w"), out


def test_load_gives_eval_model_matching_the_state(run):
  workdir, out = run
  model, config = actionjax.load(workdir)
  assert config.model.name == "tiny_classifier"
  x = np.random.default_rng(0).standard_normal((3, 2, 16, 25, 3)).astype(np.float32)
  a = np.asarray(model(x)["logits"])
  b = np.asarray(model(x)["logits"])
  np.testing.assert_array_equal(a, b)  # eval mode: deterministic, running BatchNorm statistics
  # independent path: merge the trained state by hand
  from flax import nnx
  setup, state, step, _ = workdir_lib.restore(workdir)
  m2 = nnx.merge(setup.graphdef, jax.device_get(out["state"].params), jax.device_get(out["state"].rest))
  np.testing.assert_allclose(a, np.asarray(m2(x, train=False)["logits"]), atol=1e-6)
  assert step == 4


def test_checkpoint_selection(run):
  workdir, _ = run
  assert workdir_lib.restore(workdir, 2)[2] == 2
  with pytest.raises(ckpt_lib.CheckpointError, match=r"no checkpoint at step 3 .*available: \[2, 4\]"):
    workdir_lib.restore(workdir, 3)
  with pytest.raises(ckpt_lib.CheckpointError, match="has eval metrics"):
    workdir_lib.restore(workdir, "best")


def test_corrupt_checkpoint_falls_back(run, tmp_path, capsys):
  import shutil
  workdir, _ = run
  copy = str(tmp_path / "w")
  shutil.copytree(workdir, copy)
  # truncate every data file of the newest step's state
  for f in glob.glob(os.path.join(copy, "checkpoints", "4", "state", "**", "*"), recursive=True):
    if os.path.isfile(f) and os.path.getsize(f) > 0:
      with open(f, "r+b") as fh:
        fh.truncate(os.path.getsize(f) // 3)
  setup, state, step, _ = workdir_lib.restore(copy, "latest")
  assert step == 2
  out = capsys.readouterr().out
  assert "checkpoint step 4" in out and "falling back" in out


def test_best_checkpoint_by_eval_metric(tmp_path):
  d = tiny_data.write(str(tmp_path / "data"))
  c = tiny_data.config(d, num_steps=4, checkpoint_every_steps=2, eval_every_steps=2)
  c.train.keep_checkpoints = 1
  trainer.train(c, str(tmp_path / "w"), quiet=True)
  ck = ckpt_lib.Checkpointer(str(tmp_path / "w"), read_only=True, best_metric="top1")
  scores = {s: ck.read_meta(s)["metrics"]["top1"] for s in ck.steps()}
  best = ck.resolve("best")
  ck.close()
  assert 4 in scores and scores[best] == max(scores.values())
