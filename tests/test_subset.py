"""Semi-supervised label subsets: per-class fraction, deterministic, names saved, test untouched."""
import math
import os


import tiny_data
from data_pipelines import records, subset
from actionjax.training import trainer


def test_select_per_class_and_deterministic():
  names = [f"s{i:03d}" for i in range(250)]
  labels = [i % 5 for i in range(250)] # 50 per class
  a = subset.select(names, labels, 0.1, seed=0)
  assert a == subset.select(list(reversed(names)), list(reversed(labels)), 0.1, seed=0)
  per_class = {c: sum(1 for n in a if int(n[1:]) % 5 == c) for c in range(5)}
  assert per_class == {c: 5 for c in range(5)}
  assert subset.select(names, labels, 0.1, seed=1) != a
  assert len(subset.select(names, labels, 0.001, seed=0)) == 5  # at least one per class


def test_training_on_a_label_fraction(tmp_path):
  d = tiny_data.write(str(tmp_path / "data"))  # 12 train samples per class
  c = tiny_data.config(d, num_steps=2, batch_size=8)
  c.data.label_fraction = 0.25
  trainer.train(c, str(tmp_path / "w"), quiet=True)
  names = open(tmp_path / "w" / "label_subset" / "subset_names.txt").read().split()
  assert len(names) == tiny_data.NUM_CLASSES * math.ceil(0.25 * 12)
  import tensorflow as tf
  sub = [records.parse_numpy(bytes(r)) for f in records.split_files(str(tmp_path / "w" / "label_subset"), "xsub", "train")
         for r in tf.data.TFRecordDataset(f).as_numpy_iterator()]
  assert sorted(s["name"] for s in sub) == names
  test_files = records.split_files(str(tmp_path / "w" / "label_subset"), "xsub", "test")
  assert len(test_files) == 2 and all(os.path.islink(f) for f in test_files)
  import json
  saved = json.load(open(tmp_path / "w" / "config.json"))
  assert saved["data"]["dir"].endswith("label_subset")
