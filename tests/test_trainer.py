"""The one trainer: learning, exact resume, device-count and FSDP invariance, mesh changes,
NaN handling, init from another run. Eight emulated CPU devices (conftest)."""
import json
import time

import jax
import numpy as np
import pytest

import tiny_data
from actionjax import workdir as workdir_lib
from actionjax.training import setup as setup_lib
from actionjax.training import trainer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return tiny_data.write(str(tmp_path_factory.mktemp("tiny")))


# Tests of device-independent features train on one device (half the compile time of eight).
ONE = jax.devices()[:1]


def flat_params(state):
  return {k: np.asarray(v) for k, v in setup_lib.flat(jax.device_get(state.params)).items()}


def max_diff(a, b):
  assert a.keys() == b.keys()
  return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def test_loss_falls(data_dir, tmp_path):
  c = tiny_data.config(data_dir, num_steps=40, log_every_steps=4)
  c.schedule.base_lr = 1e-2
  trainer.train(c, str(tmp_path), quiet=True, devices=ONE)
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  losses = [l["train/loss"] for l in lines if "train/loss" in l]
  assert len(losses) == 10
  assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:2]), losses
  assert (tmp_path / "config.json").exists() and list((tmp_path / "tensorboard").iterdir())


def test_logs_are_window_means_and_repeat_sets_the_epoch(data_dir, tmp_path):
  """A logged train loss is the mean over the steps since the last log (checked against a run
  logging every step), the learning rate the last step's; data.repeat=2 makes an epoch two
  passes: 48 samples x 2 / batch 8 = 12 steps."""
  def run(log_every, name):
    c = tiny_data.config(data_dir, num_steps=0, num_epochs=1.0, log_every_steps=log_every)
    c.data.repeat = 2
    out = trainer.train(c, str(tmp_path / name), quiet=True, devices=ONE)
    return out, [json.loads(l) for l in open(tmp_path / name / "metrics.jsonl") if "train/loss" in l]
  out, every = run(1, "every")
  assert out["step"] == 12 and [l["step"] for l in every] == list(range(1, 13))
  _, windows = run(3, "windows")
  assert [l["step"] for l in windows] == [3, 6, 9, 12]
  for i, w in enumerate(windows):
    steps = every[3 * i: 3 * i + 3]
    for key in ("train/loss", "train/accuracy", "train/grad_norm"):
      assert w[key] == pytest.approx(np.mean([s[key] for s in steps]), rel=1e-5)
    assert w["train/lr"] == pytest.approx(steps[-1]["train/lr"], rel=1e-6)


def test_resume_is_exact(data_dir, tmp_path):
  c = tiny_data.config(data_dir, num_steps=8, checkpoint_every_steps=100)
  c.train.ema_decay = 0.9  # the EMA must resume too
  straight = trainer.train(c, str(tmp_path / "a"), quiet=True)
  first = trainer.train(c, str(tmp_path / "b"), quiet=True, stop_at=4)
  assert first["stopped_by"] == "stop_at" and first["step"] == 4
  resumed = trainer.train(c, str(tmp_path / "b"), quiet=True)
  assert resumed["step"] == 8
  a, b = flat_params(straight["state"]), flat_params(resumed["state"])
  assert max_diff(a, b) == 0.0
  ema_a = jax.tree.leaves(jax.device_get(straight["state"].ema))
  ema_b = jax.tree.leaves(jax.device_get(resumed["state"].ema))
  assert all(np.array_equal(x, y) for x, y in zip(ema_a, ema_b))
  rest_a = jax.tree.leaves(jax.device_get(straight["state"].rest))
  rest_b = jax.tree.leaves(jax.device_get(resumed["state"].rest))
  assert all(np.array_equal(x, y) for x, y in zip(rest_a, rest_b))


def test_eight_devices_match_one(data_dir, tmp_path):
  c = tiny_data.config(data_dir, num_steps=6, checkpoint_every_steps=100)
  one = trainer.train(c, str(tmp_path / "one"), quiet=True, devices=jax.devices()[:1])
  eight = trainer.train(c, str(tmp_path / "eight"), quiet=True)
  assert len(eight["state"].params["embed"]["kernel"].sharding.device_set) == 8
  d = max_diff(flat_params(one["state"]), flat_params(eight["state"]))
  assert d < 1e-5, d
  assert max_diff(flat_params(one["state"]), flat_params(setup_lib.init_state(
      setup_lib.build(c, trainer.sharding.make_mesh(c, jax.devices()[:1]))))) > 1e-3  # it did train


def test_fsdp_matches_replicated_and_restores_on_other_meshes(data_dir, tmp_path):
  c = tiny_data.config(data_dir, num_steps=9, checkpoint_every_steps=100)
  c.model.width = 64  # large enough that FSDP shards the kernels
  replicated = trainer.train(c, str(tmp_path / "rep"), quiet=True)
  c.train.fsdp = True
  # 3 steps on 8 devices (FSDP) -> 3 more on 1 device -> 3 more on 8 devices again.
  trainer.train(c, str(tmp_path / "fsdp"), quiet=True, stop_at=3)
  trainer.train(c, str(tmp_path / "fsdp"), quiet=True, stop_at=6, devices=jax.devices()[:1])
  fsdp = trainer.train(c, str(tmp_path / "fsdp"), quiet=True)
  kernel = fsdp["state"].params["temporal"]["kernel"]
  assert not kernel.sharding.is_fully_replicated
  d = max_diff(flat_params(replicated["state"]), flat_params(fsdp["state"]))
  assert d < 1e-5, d


def test_nan_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path):
  c = tiny_data.config(data_dir, num_steps=30, checkpoint_every_steps=1, log_every_steps=1)
  c.optimizer.update(name="sgd", momentum=0.0, weight_decay=0.0)
  c.schedule.update(name="constant", base_lr=1e36, warmup_steps=0)
  with pytest.raises(trainer.TrainError, match=r"NaN/Inf at step \d+"):
    trainer.train(c, str(tmp_path), quiet=True, devices=ONE)
  setup, state, step, _ = workdir_lib.restore(str(tmp_path), "latest")
  leaves = jax.tree.leaves(jax.device_get(state.params))
  assert step >= 1 and all(np.all(np.isfinite(x)) for x in leaves)


def test_init_from_another_run_lists_and_refuses_mismatch(data_dir, tmp_path):
  c = tiny_data.config(data_dir, num_steps=2)
  src = trainer.train(c, str(tmp_path / "src"), quiet=True, devices=ONE)
  c2 = tiny_data.config(data_dir, num_steps=1)
  c2.init.checkpoint = str(tmp_path / "src")
  c2.schedule.base_lr = 1e-9  # one negligible step: the weights must be the source's
  out = trainer.train(c2, str(tmp_path / "dst"), quiet=True, devices=ONE)
  assert max_diff(flat_params(src["state"]), flat_params(out["state"])) < 1e-6
  c3 = tiny_data.config(data_dir, num_steps=1)
  c3.model.width = 8
  c3.init.checkpoint = str(tmp_path / "src")
  with pytest.raises(setup_lib.InitError, match="does not fit"):
    trainer.train(c3, str(tmp_path / "dst3"), quiet=True, devices=ONE)
  c3.init.exclude = "embed|norm|temporal|head"
  with pytest.raises(setup_lib.InitError, match="shares no parameter"):
    trainer.train(c3, str(tmp_path / "dst4"), quiet=True, devices=ONE)


def test_workdir_of_another_model_is_refused(data_dir, tmp_path):
  c = tiny_data.config(data_dir, num_steps=1)
  trainer.train(c, str(tmp_path), quiet=True, devices=ONE)
  c.model.num_classes = 3
  with pytest.raises(trainer.TrainError, match="with 4 classes.*use another --workdir"):
    trainer.train(c, str(tmp_path), quiet=True, devices=ONE)


def test_evaluation_compiles_once_and_is_not_training_time(data_dir, tmp_path, monkeypatch):
  """Evaluating every few steps reuses one compiled forward (a new jit per evaluation recompiled
  it every epoch), and the evaluation's wall time is logged as eval/seconds but left out of the
  next window's train samples_per_s (it counted as training time)."""
  from jax._src.dispatch import BACKEND_COMPILE_EVENT
  compiles = []

  def listener(event, duration, **kwargs):
    if event == BACKEND_COMPILE_EVENT:
      compiles.append(event)

  real_eval, evals = trainer.run_eval, []

  def slow_eval(*args, **kwargs):  # the real evaluation, then a pause that dwarfs two tiny steps
    out = real_eval(*args, **kwargs)
    evals.append(len(compiles))
    time.sleep(3.0)
    return out

  monkeypatch.setattr(trainer, "run_eval", slow_eval)
  c = tiny_data.config(data_dir, num_steps=6, log_every_steps=2, eval_every_steps=2)
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    trainer.train(c, str(tmp_path), quiet=True, devices=ONE)
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert len(evals) == 3 and evals[0] > 0
  assert evals[1] == evals[0] and evals[2] == evals[0], evals  # nothing compiled after the first
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [l["eval/seconds"] >= 3.0 for l in lines if "eval/seconds" in l] == [True] * 3
  rates = [l["train/samples_per_s"] for l in lines if "train/samples_per_s" in l]
  # With the pause counted, 2 steps x 8 samples could not exceed 16 / 3 samples/s.
  assert len(rates) == 3 and min(rates[1:]) > 16 / 3, rates
