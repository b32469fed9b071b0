"""benchmarks/accuracy/reproduce.py (prepare, train with an evaluation per epoch, learning curve)
and benchmarks/fgstformer_dynamics.py (JAX step vs the PyTorch mirror's SGD), on synthetic
NW-UCLA files in the genuine all_sqe format with a tiny FG-STFormer."""
import importlib.util
import json
import os
import shutil

import numpy as np
import pytest

from data_pipelines import synthetic

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CONFIG = os.path.join(ROOT, "configs", "fgstformer.py") + ":nwucla"
TINY = ["--config.model.channels=(8,16)", "--config.model.depths=(1,1)", "--config.model.num_focal=5",
        "--config.model.spatial_qk_features=4", "--config.model.hidden=8", "--config.data.num_frames=16",
        "--config.train.batch_size=4", "--config.data.repeat=1"]


def _script(*parts):
  path = os.path.join(ROOT, "benchmarks", *parts)
  spec = importlib.util.spec_from_file_location(parts[-1][:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("nwucla_raw"))
  synthetic.write_nwucla(out, num_classes=3, samples_per_class=6, edge_cases=False)  # 12 train, 6 test
  return out


def test_reproduce_writes_a_per_epoch_curve_and_resumes(raw, tmp_path):
  reproduce = _script("accuracy", "reproduce.py")
  workdir = str(tmp_path / "run")
  argv = ["--dataset", "nwucla", "--raw_dir", raw, "--config", CONFIG, "--workdir", workdir, "--quiet", "--devices", "1",
          "--config.train.num_epochs=2", *TINY]
  assert reproduce.main(argv + ["--eval_train"]) == 0
  curve = json.load(open(os.path.join(workdir, "curve.json")))
  records = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  # 12 training samples / batch 4 = 3 steps an epoch, each epoch logged and evaluated once.
  assert [r["step"] for r in curve] == [3, 6] and [r["epoch"] for r in curve] == [1.0, 2.0]
  for row in curve:
    rec = {k: v for r in records if r["step"] == row["step"] for k, v in r.items()}
    assert row["train_loss"] == rec["train/loss"] and row["test_top1"] == rec["eval/top1"]
    assert 0.0 <= row["train_accuracy"] <= 1.0 and rec["eval/num_samples"] == 6
    assert row["test_seconds"] == rec["eval/seconds"] > 0 and row["train_samples_per_s"] > 0
  result = json.load(open(os.path.join(workdir, "result.json")))
  assert result["final"]["top1"] == curve[-1]["test_top1"] and result["epochs_done"] == 2.0
  assert result["machine"]["cpu_count"] == os.cpu_count() and len(result["invocations"]) == 1
  assert os.path.getsize(os.path.join(workdir, "curve.png")) > 10_000
  assert os.path.exists(os.path.join(workdir, "data", "dataset_info.json"))
  # The final model on the 12 training samples, unaugmented, as the test split is evaluated; on all
  # 8 devices after training on one (the evaluation rounds its batch of 4 up to 8).
  train_split = result["train_split"]
  assert train_split["num_samples"] == 12 and train_split["step"] == 6
  assert 0.0 <= train_split["top1"] <= train_split["top5"] <= 1.0
  # A rerun of a finished run trains nothing more and keeps the invocations' wall times.
  assert reproduce.main(argv) == 0
  again = json.load(open(os.path.join(workdir, "result.json")))
  assert len(again["invocations"]) == 2 and json.load(open(os.path.join(workdir, "curve.json"))) == curve
  assert again["wall_s"] == pytest.approx(sum(i["wall_s"] for i in again["invocations"]), abs=0.2)


def test_dynamics_jax_step_and_torch_sgd_agree(raw, tmp_path):
  """Same init and batches: the first loss is the same forward; after the SGD-Nesterov updates
  the parameters still agree to float32 rounding, relative to how far they moved. Without focal
  joints: a near-tie in their top-k can flip between the two frameworks and move the runs apart
  by a whole selection, which says nothing about the update."""
  dynamics = _script("fgstformer_dynamics.py")
  data = str(tmp_path / "data")
  from data_pipelines import prepare
  prepare.prepare("nwucla", raw, data, progress=False)
  out = str(tmp_path / "dynamics.json")
  assert dynamics.main(["--data_dir", data, "--config", CONFIG, "--steps", "4", "--every", "2", "--out", out,
                        "--config.schedule.warmup_epochs=0", "--config.train.num_epochs=10",
                        "--config.model.focal=False", *TINY]) == 0
  res = json.load(open(out))
  first = res["per_step"][0]
  assert abs(first["loss_jax"] - first["loss_torch"]) < 1e-4 * max(1.0, first["loss_jax"])
  assert first["lr"] == pytest.approx(0.01)
  for d in res["drift"]:
    assert d["param_movement"] > 0 and d["param_diff_over_movement"] < 1e-3
    assert d["synced_update_rel_diff"] < 1e-4
    # JAX's float32 step is as close to the float64 step as PyTorch's own (flax's fast BatchNorm
    # variance put it 5x further on one of these batches).
    assert d["jax_vs_float64"] < 2 * d["torch_vs_float64"] + 1e-5
    assert d["bn_mean_max_rel_diff"] < 1e-4
    # torch's running_var takes the unbiased batch variance, flax's the biased one: n / (n - 1)
    # with n = 80 values per channel in the focal branch's last layer here.
    assert d["bn_var_max_rel_diff"] < 1e-2
  assert os.path.exists(out[:-5] + ".png") and np.isfinite(res["max_abs_loss_diff"])


def test_compare_tabulates_and_overlays_runs(tmp_path, capsys):
  compare = _script("accuracy", "compare.py")
  rng = np.random.default_rng(0)
  runs = {}
  for name in ("base", "lr03"):
    rows = [{"epoch": float(e), "step": 3 * e, "train_loss": float(rng.uniform(0.2, 2)),
             "train_accuracy": float(rng.uniform()), "test_top1": float(rng.uniform()),
             "test_top5": float(rng.uniform()), "test_mean_class_accuracy": float(rng.uniform())}
            for e in range(1, 6)]
    os.makedirs(tmp_path / name)
    json.dump(rows, open(tmp_path / name / "curve.json", "w"))
    runs[name] = rows
  stopped = {"error": "TrainError: loss or gradients became NaN/Inf at step 35; training stopped",
             "train_split": {"top1": 0.625}}
  json.dump(stopped, open(tmp_path / "lr03" / "result.json", "w"))
  out = tmp_path / "cmp.png"
  argv = [str(tmp_path / "base"), str(tmp_path / "lr03"), "--labels", "lr 0.01", "lr 0.03", "--at_epoch", "3",
          "--out", str(out), "--json", str(tmp_path / "cmp.json")]
  assert compare.main(argv) == 0
  got = json.load(open(tmp_path / "cmp.json"))
  for g, (name, rows) in zip(got, runs.items()):
    top1 = [r["test_top1"] for r in rows]
    assert g["top1"] == top1[-1] and g["best_top1"] == max(top1) and g["best_epoch"] == 1 + int(np.argmax(top1))
    assert g["top1_at"] == rows[2]["test_top1"] and g["train_accuracy_at"] == rows[2]["train_accuracy"]
    assert g["train_loss"] == rows[-1]["train_loss"] and g["epochs"] == 5.0
  assert got[0]["train_split_top1"] is None and got[0]["stopped"] is None
  assert got[1]["train_split_top1"] == 0.625
  assert got[1]["stopped"] == "TrainError: loss or gradients became NaN/Inf at step 35"
  lines = capsys.readouterr().out.splitlines()
  assert lines[2].startswith("| lr 0.01 | 5 | " + f"{100 * runs['base'][-1]['test_top1']:.1f} |")
  assert lines[3].startswith("| lr 0.03 | 5 (stopped: TrainError: loss or gradients became NaN/Inf")
  assert lines[3].split(" | ")[8] == "62.5"
  assert out.stat().st_size > 10_000
  with pytest.raises(SystemExit, match="does not exist"):
    compare.main([str(tmp_path / "missing")])
  # A saved run (<prefix>.curve.json, <prefix>.result.json, as benchmarks/results keeps them) reads
  # as its workdir did.
  shutil.copy(tmp_path / "lr03" / "curve.json", tmp_path / "saved_lr03.curve.json")
  shutil.copy(tmp_path / "lr03" / "result.json", tmp_path / "saved_lr03.result.json")
  assert compare.main([str(tmp_path / "saved_lr03"), "--at_epoch", "3", "--json", str(tmp_path / "saved.json")]) == 0
  saved = json.load(open(tmp_path / "saved.json"))[0]
  assert saved["label"] == "saved_lr03"
  assert {k: v for k, v in saved.items() if k not in ("label", "workdir")} == \
      {k: v for k, v in got[1].items() if k not in ("label", "workdir")}
