"""Semi-supervised protocols: a deterministic per-class fraction of a training split's labels
(FD-MAE / MAMP's 1% and 10% settings), written as a prepared directory of its own.

The subset directory holds the selected training records in one shard, links to every other
split's shards, a copy of dataset_info.json (with the subset's count) and `subset_names.txt`, so
the input pipeline, exact resume and evaluation work on it unchanged."""
from __future__ import annotations

import json
import math
import os

import numpy as np

from data_pipelines import records


def select(names: list[str], labels: list[int], fraction: float, seed: int) -> list[str]:
  """Per class, ceil(fraction * n_c) (at least one) names, drawn with a seeded permutation of the
  class's names in sorted order: the same data, fraction and seed give the same subset."""
  by_class: dict[int, list[str]] = {}
  for n, l in zip(names, labels):
    by_class.setdefault(int(l), []).append(n)
  chosen = []
  for label in sorted(by_class):
    members = sorted(by_class[label])
    k = max(1, math.ceil(fraction * len(members)))
    order = np.random.default_rng([seed, label]).permutation(len(members))[:k]
    chosen.extend(members[i] for i in sorted(order))
  return sorted(chosen)


def make_label_subset(data_dir: str, protocol: str, split: str, fraction: float, seed: int, out_dir: str) -> str:
  """Writes (once) the subset directory for `fraction` of `split`'s labels; returns its path."""
  done = os.path.join(out_dir, "subset_names.txt")
  if os.path.exists(done):
    return out_dir
  import tensorflow as tf
  files = records.split_files(data_dir, protocol, split)
  serialized = [bytes(r) for f in files for r in tf.data.TFRecordDataset(f).as_numpy_iterator()]
  parsed = [records.parse_numpy(s) for s in serialized]
  keep = set(select([p["name"] for p in parsed], [p["label"] for p in parsed], fraction, seed))
  target = records.split_dir(out_dir, protocol)
  os.makedirs(target, exist_ok=True)
  with tf.io.TFRecordWriter(os.path.join(target, records.shard_name(split, 0, 1))) as w:
    for s, p in zip(serialized, parsed):
      if p["name"] in keep:
        w.write(s)
  source = records.split_dir(data_dir, protocol)
  for f in sorted(os.listdir(source)):
    if f.endswith(".tfrecord") and not f.startswith(f"{split}-"):
      os.symlink(os.path.abspath(os.path.join(source, f)), os.path.join(target, f))
  info = records.read_info(data_dir)
  info.setdefault("protocols", {}).setdefault(protocol, {})[split] = len(keep)
  info["label_subset"] = {"fraction": fraction, "seed": seed, "source": os.path.abspath(data_dir)}
  with open(os.path.join(out_dir, records.INFO_FILE), "w") as f:
    json.dump(info, f, indent=2)
  with open(done + ".tmp", "w") as f:
    f.write("\n".join(sorted(keep)) + "\n")
  os.replace(done + ".tmp", done)
  return out_dir
