"""Metrics on hand-computed examples, clip averaging, ensembles that refuse misalignment."""
import json

import numpy as np
import pytest

from actionjax import scoring


def test_metrics_by_hand():
  logits = np.array([
      [9, 1, 2, 3, 4, 5, 0],   # label 0: top-1 hit
      [1, 9, 8, 7, 6, 5, 0],   # label 6: ranked last -> top-5 miss
      [5, 6, 9, 1, 2, 3, 0],   # label 1: ranked 2nd -> top-5 hit
      [0, 1, 2, 9, 3, 4, 5],   # label 3: hit
  ], np.float32)
  labels = np.array([0, 6, 1, 3])
  m = scoring.compute_metrics(logits, labels)
  assert m["top1"] == 0.5 and m["top5"] == 0.75 and m["num_samples"] == 4
  # classes present: 0 (1/1), 1 (0/1), 3 (1/1), 6 (0/1) -> mean 0.5
  assert m["mean_class_accuracy"] == 0.5
  cm = m["confusion"]
  assert cm[0, 0] == 1 and cm[6, 1] == 1 and cm[1, 2] == 1 and cm[3, 3] == 1 and cm.sum() == 4


def test_mean_class_accuracy_differs_from_top1_on_imbalance():
  labels = np.array([0] * 8 + [1] * 2)
  logits = np.zeros((10, 2), np.float32)
  logits[:, 0] = 1.0  # always predicts class 0
  m = scoring.compute_metrics(logits, labels)
  assert m["top1"] == 0.8 and m["mean_class_accuracy"] == 0.5


def test_clip_averaging():
  names = ["a", "b", "a", "b", "a"]
  labels = np.array([1, 0, 1, 0, 1])
  logits = np.array([[0, 3], [1, 0], [0, -6], [3, 0], [0, 0]], np.float32)
  out_names, out_labels, out_logits = scoring.aggregate_clips(names, labels, logits)
  assert out_names == ["a", "b"] and list(out_labels) == [1, 0]
  np.testing.assert_allclose(out_logits, [[0, -1], [2, 0]])
  with pytest.raises(ValueError, match="different labels"):
    scoring.aggregate_clips(["a", "a"], np.array([0, 1]), np.zeros((2, 2), np.float32))


def _scores(path, names, labels, logits):
  np.savez(path, names=np.array(names), labels=np.array(labels), logits=np.array(logits, np.float32))
  return str(path)


def test_ensemble_aligns_by_name_and_weights(tmp_path):
  a = _scores(tmp_path / "a.npz", ["x", "y", "z"], [0, 1, 1], [[1, 0], [0, 1], [2, 0]])
  # same samples, another order
  b = _scores(tmp_path / "b.npz", ["z", "x", "y"], [1, 0, 1], [[0, 5], [3, 0], [1, 0]])
  names, labels, fused = scoring.ensemble([a, b], [0.6, 0.4])
  assert names == ["x", "y", "z"] and list(labels) == [0, 1, 1]
  np.testing.assert_allclose(fused, [[0.6 + 1.2, 0], [0.4, 0.6], [1.2, 2.0]], rtol=1e-6)


def test_ensemble_refuses_misalignment(tmp_path):
  a = _scores(tmp_path / "a.npz", ["x", "y"], [0, 1], [[1, 0], [0, 1]])
  other_set = _scores(tmp_path / "b.npz", ["x", "w"], [0, 1], [[1, 0], [0, 1]])
  other_label = _scores(tmp_path / "c.npz", ["x", "y"], [0, 0], [[1, 0], [0, 1]])
  with pytest.raises(scoring.EnsembleError, match="different sample set"):
    scoring.ensemble([a, other_set])
  with pytest.raises(scoring.EnsembleError, match="label of 'y'"):
    scoring.ensemble([a, other_label])
  with pytest.raises(scoring.EnsembleError, match="2 weights for 3"):
    scoring.ensemble([a, a, a], [1, 2])


def test_save_results_files(tmp_path):
  logits = np.eye(3, dtype=np.float32)
  m = scoring.save_results(str(tmp_path), ["a", "b", "c"], np.array([0, 1, 1]), logits, ["p", "q", "r"])
  assert json.load(open(tmp_path / "metrics.json"))["top1"] == pytest.approx(2 / 3)
  assert np.load(tmp_path / "confusion.npy").sum() == 3 and (tmp_path / "confusion.png").stat().st_size > 1000
  z = np.load(tmp_path / "scores.npz")
  assert list(z["names"]) == ["a", "b", "c"] and m["num_samples"] == 3
