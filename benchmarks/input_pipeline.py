"""Input-pipeline throughput: training samples/s with augmentation on realistic synthetic records.

Records: NTU-like raw skeletons, ~100 frames (uniform 60-140), 2 persons, 25 joints, 3 channels,
in 4 shards. Measured: the training pipeline (parse, ctrgcn centring, crop-resize or uniform
sampling, rotation, stream, batch) at T=64 and T=128, after a warm-up, on whatever cores TF gets.

  python benchmarks/input_pipeline.py [--records 2048] [--batch 64] [--batches 40]

Also times the first batch of a pipeline restored mid-epoch (exact resume re-reads the skipped raw
records). Writes benchmarks/results/input_pipeline.json and prints it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import tensorflow as tf

from actionjax.config import base_config
from data_pipelines import records
from data_pipelines.input import InputPipeline

NTU_PAIRS = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
             (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17),
             (19, 18), (20, 19), (22, 23), (21, 21), (23, 8), (24, 25), (25, 12)]


def write_records(root: str, n: int, shards: int = 4, seed: int = 0) -> float:
  """Writes n raw records; returns the mean number of frames."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(60, 141, size=n)
  for s, idx in enumerate(np.array_split(np.arange(n), shards)):
    with tf.io.TFRecordWriter(os.path.join(root, records.shard_name("train", s, shards))) as w:
      for i in idx:
        kp = (rng.normal(size=(2, lengths[i], 25, 3)) * 0.3 + [0.0, 0.0, 3.0]).astype(np.float32)
        w.write(records.serialize(kp, int(i % 60), f"S{i:05d}"))
  info = {"dataset": "ntu60", "num_classes": 60, "num_joints": 25, "channels": 3, "max_persons": 2,
          "bone_pairs": NTU_PAIRS, "protocols": {"": {"train": n}}}
  with open(os.path.join(root, records.INFO_FILE), "w") as f:
    json.dump(info, f)
  return float(lengths.mean())


def measure(root: str, num_frames: int, sampling: str, stream: str, batch: int,
            batches: int) -> dict:
  c = base_config()
  c.data.dir, c.data.dataset = root, "ntu60"
  c.data.num_frames, c.data.sampling, c.data.stream = num_frames, sampling, stream
  pipe = InputPipeline(c, "train", train=True, batch_size=batch, process_index=0, process_count=1)
  t0 = time.perf_counter()
  next(pipe)
  first = time.perf_counter() - t0
  for _ in range(5):  # warm-up: shuffle buffer fill, autotune
    next(pipe)
  t0 = time.perf_counter()
  for _ in range(batches):
    b = next(pipe)
  dt = time.perf_counter() - t0
  assert b["inputs"].shape == (batch, 2, num_frames, 25, 3)
  return {"num_frames": num_frames, "sampling": sampling, "stream": stream, "batch": batch,
          "batches": batches, "samples_per_s": round(batch * batches / dt, 1),
          "first_batch_s": round(first, 2)}


def measure_resume(root: str, records_n: int, batch: int) -> dict:
  """Seconds to the first batch of a fresh pipeline vs one restored mid-epoch (it re-reads and
  skips the raw records before the position; no parsing or augmentation)."""
  c = base_config()
  c.data.dir, c.data.dataset = root, "ntu60"
  per_epoch = records_n // batch
  out = {}
  for label, start in (("start_s", 0), ("resume_mid_epoch_s", 10 * per_epoch + per_epoch // 2)):
    t0 = time.perf_counter()
    pipe = InputPipeline(c, "train", train=True, batch_size=batch, process_index=0, process_count=1,
                         start_batch=start)
    next(pipe)
    out[label] = round(time.perf_counter() - t0, 2)
  return out


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--records", type=int, default=2048)
  ap.add_argument("--batch", type=int, default=64)
  ap.add_argument("--batches", type=int, default=40)
  ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                "input_pipeline.json"))
  args = ap.parse_args()
  with tempfile.TemporaryDirectory() as root:
    mean_frames = write_records(root, args.records)
    runs = [measure(root, t, s, st, args.batch, args.batches)
            for t, s, st in ((64, "crop_resize", "joint"), (128, "crop_resize", "joint"),
                             (64, "uniform", "joint"), (64, "crop_resize", "bone_motion"))]
    resume = measure_resume(root, args.records, args.batch)
  result = {
      "benchmark": "input_pipeline",
      "what": "training pipeline samples/s: parse, ctrgcn centring, temporal sampling, "
              "rotation 0.3, stream, batch",
      "records": args.records, "mean_frames": round(mean_frames, 1), "persons": 2, "joints": 25,
      "cpu_count": os.cpu_count(), "tensorflow": tf.__version__, "machine": platform.machine(),
      "runs": runs, "resume": resume,
  }
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
