"""A tiny prepared skeleton dataset for platform tests: genuine TFRecords + dataset_info.json,
written straight with data_pipelines.records (the converters have their own tests)."""
from __future__ import annotations

import json
import os

import numpy as np

from actionjax.config import base_config
from data_pipelines import records

NUM_CLASSES = 4
JOINTS = 25


def write(root: str, *, num_classes: int = NUM_CLASSES, per_class: tuple[int, int] = (12, 4), frames: int = 20,
          seed: int = 0) -> str:
  """Class c moves joint group c with frequency c+1; noise keeps it from being trivial."""
  rng = np.random.default_rng(seed)
  for split, n in zip(("train", "test"), per_class):
    serialized = []
    for c in range(num_classes):
      for i in range(n):
        t = np.arange(frames)[:, None]
        kp = 0.3 * rng.standard_normal((2, frames, JOINTS, 3)).astype(np.float32)
        joints = np.arange(c * 5, c * 5 + 5) % JOINTS
        kp[0, :, joints, 0] += np.sin(2 * np.pi * (c + 1) * t / frames + rng.uniform(0, 6)).T * 2
        kp[1] = 0.0 if i % 2 else kp[1]
        serialized.append(records.serialize(kp, c, f"{split}_c{c}_{i:03d}", {"performer": i}))
    order = rng.permutation(len(serialized))
    shards = 2
    os.makedirs(os.path.join(root, "xsub"), exist_ok=True)
    import tensorflow as tf
    for s in range(shards):
      with tf.io.TFRecordWriter(os.path.join(root, "xsub", records.shard_name(split, s, shards))) as w:
        for j in order[s::shards]:
          w.write(serialized[j])
  info = {"dataset": "tiny", "num_classes": num_classes, "class_names": [f"class {c}" for c in range(num_classes)],
          "num_joints": JOINTS, "channels": 3, "max_persons": 2,
          "bone_pairs": [[v, 1 if v != 1 else 1] for v in range(1, JOINTS + 1)],
          "protocols": {"xsub": {"train": per_class[0] * num_classes, "test": per_class[1] * num_classes}},
          "preprocessing_version": "test"}
  with open(os.path.join(root, records.INFO_FILE), "w") as f:
    json.dump(info, f)
  return root


def config(data_dir: str, **train):
  """A tiny_classifier config over `write(data_dir)`; keyword args override train.*."""
  c = base_config()
  c.model.name = "tiny_classifier"
  c.model.num_classes = NUM_CLASSES
  c.data.update(dir=data_dir, dataset="tiny", protocol="xsub", num_frames=16, rotation=0.0, shuffle_buffer=64)
  c.train.update(batch_size=8, num_steps=12, checkpoint_every_steps=6, log_every_steps=3)
  c.train.update(**train)
  c.optimizer.update(name="adamw", weight_decay=1e-4)
  c.schedule.update(name="warmup_cosine", base_lr=3e-3, warmup_steps=2)
  return c
