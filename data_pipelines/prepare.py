"""`actionjax prepare <dataset> --raw_dir DIR --out_dir DIR`: raw release -> sharded TFRecords.

Streaming: samples are converted in worker processes in bounded windows and written to open shard
writers as they arrive, so memory does not grow with the dataset. Deterministic: inputs are sorted
by name, results are consumed in input order, and the k-th accepted sample of a split goes to shard
k mod num_shards, so the shards are byte-identical for any `--workers`. Bad inputs are written to
rejected.jsonl with the reason; the exit code is 1 when their fraction exceeds `--max_reject`.
"""
from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import multiprocessing
import os
import re
import resource
import sys
import time
from typing import Iterator, Sequence

from tqdm import tqdm

from data_pipelines import records
from data_pipelines.errors import DataError
from data_pipelines.formats import catalog

DEFAULT_SHARD_SIZE = 1000  # samples per shard (~30-60 MB of NTU records)
_CHUNK = 16  # tasks per worker call
_CHUNKS_PER_WORKER = 4  # chunks in flight per worker: bounds memory of finished samples


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds the `prepare` arguments (shared by the actionjax CLI and `python -m`)."""
  parser.add_argument("dataset", choices=catalog.DATASETS)
  parser.add_argument("--raw_dir", required=True,
                      help="release as shipped: NTU .skeleton folder, NW-UCLA all_sqe folder, or"
                           " the folder holding kinetics_{train,val}/ and their label files")
  parser.add_argument("--out_dir", required=True, help="where shards and dataset_info.json go")
  parser.add_argument("--workers", type=int, default=1, help="conversion processes")
  parser.add_argument("--max_reject", type=float, default=0.01,
                      help="exit non-zero when more than this fraction of inputs is rejected")
  parser.add_argument("--shard_size", type=int, default=DEFAULT_SHARD_SIZE,
                      help="samples per shard; the shard count of a split is ceil(n / shard_size)")
  parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _convert_one(job: tuple[str, catalog.Task]) -> tuple[str, object]:
  """Worker: ('ok', Sample) or ('reject', reason). Workers stay free of TensorFlow (fast start)."""
  dataset, task = job
  try:
    return "ok", catalog.convert(dataset, task)
  except DataError as e:
    return "reject", str(e)
  except Exception as e:  # anything else unreadable is recorded too; conversion goes on
    return "reject", f"{type(e).__name__}: {e}"


def _serialize(sample: catalog.Sample) -> bytes:
  return records.serialize(sample.keypoint, sample.label, sample.name, sample.ids,
                           num_frames=sample.keypoint.shape[1])


def _convert_chunk(dataset: str, tasks: Sequence[catalog.Task]) -> list[tuple[str, object]]:
  return [_convert_one((dataset, t)) for t in tasks]


def _results(dataset: str, tasks: Sequence[catalog.Task], workers: int) -> Iterator[tuple]:
  """Conversion results in input order from `workers` processes; a sliding window of chunks keeps
  the workers busy while bounding how many finished samples wait in memory."""
  if workers <= 1:
    yield from (_convert_one((dataset, t)) for t in tasks)
    return
  chunks = (tasks[i:i + _CHUNK] for i in range(0, len(tasks), _CHUNK))
  # spawn: the parent has TensorFlow loaded, and forking it can deadlock.
  with multiprocessing.get_context("spawn").Pool(workers) as pool:
    pending = collections.deque(pool.apply_async(_convert_chunk, (dataset, c))
                                for c in itertools.islice(chunks, workers * _CHUNKS_PER_WORKER))
    while pending:
      done = pending.popleft().get()
      following = next(chunks, None)
      if following is not None:
        pending.append(pool.apply_async(_convert_chunk, (dataset, following)))
      yield from done


def _num_shards(expected: int, shard_size: int) -> int:
  return max(1, math.ceil(expected / shard_size)) if expected else 0


def _ensure_open_files(count: int) -> None:
  """Every shard stays open while converting: raise the soft open-file limit if it is too low."""
  soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
  need = count + 256  # headroom for Python, TensorFlow and the worker pipes
  if need <= soft:
    return
  if hard != resource.RLIM_INFINITY and need > hard:
    raise DataError(f"{count} shards exceed the open-file limit ({hard}); pass a larger --shard_size")
  resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


class _ShardWriters:
  """One split's shards, written incrementally; sample k goes to shard k mod num_shards."""

  def __init__(self, directory: str, split: str, expected: int, shard_size: int):
    tf = records._tf()
    self.count = 0
    num = _num_shards(expected, shard_size)
    self.paths = [os.path.join(directory, records.shard_name(split, i, num)) for i in range(num)]
    self.writers = [tf.io.TFRecordWriter(p) for p in self.paths]

  def write(self, record: bytes) -> None:
    self.writers[self.count % len(self.writers)].write(record)
    self.count += 1

  def close(self) -> None:
    for w in self.writers:
      w.close()


def _clear(out_dir: str, protocols: Sequence[str]) -> None:
  """Removes an earlier run's info and shards so stale files never mix with new ones."""
  for name in (records.INFO_FILE, records.REJECTED_FILE):
    if os.path.exists(os.path.join(out_dir, name)):
      os.remove(os.path.join(out_dir, name))
  for protocol in protocols:
    for split in ("train", "test"):
      for path in records.split_files(out_dir, protocol, split):
        os.remove(path)


def prepare(dataset: str, raw_dir: str, out_dir: str, *, workers: int = 1, max_reject: float = 0.01,
            shard_size: int = DEFAULT_SHARD_SIZE, progress: bool = True) -> dict:
  """Converts one dataset; returns the summary (dataset_info plus run figures and `ok`)."""
  spec = catalog.spec(dataset)
  if shard_size < 1 or not 0.0 <= max_reject <= 1.0:
    raise DataError(f"--shard_size must be >= 1 and --max_reject in [0, 1], got {shard_size},"
                    f" {max_reject}")
  t0 = time.perf_counter()
  listing = spec.list_inputs(raw_dir)
  tasks = listing.tasks
  if not tasks and not listing.rejected:
    raise DataError(f"no {dataset} inputs found under {raw_dir}")
  os.makedirs(out_dir, exist_ok=True)
  _clear(out_dir, spec.protocols)
  expected = collections.Counter(ps for t in tasks for ps in t.splits)
  _ensure_open_files(sum(_num_shards(n, shard_size) for n in expected.values()))
  writers = {}
  for protocol, split in sorted(expected):
    os.makedirs(records.split_dir(out_dir, protocol), exist_ok=True)
    writers[protocol, split] = _ShardWriters(records.split_dir(out_dir, protocol), split,
                                             expected[protocol, split], shard_size)
  rejected = list(listing.rejected)
  reasons = collections.Counter()
  t_convert = time.perf_counter()
  bar = tqdm(total=len(tasks), unit="file", desc=f"prepare {dataset}", disable=not progress)
  try:
    for task, (status, value) in zip(tasks, _results(dataset, tasks, workers)):
      if status == "ok":
        record = _serialize(value)
        for ps in task.splits:
          writers[ps].write(record)
      else:
        rejected.append((task.path, value))
      bar.update(1)
  finally:
    bar.close()
    for w in writers.values():
      w.close()
  convert_seconds = time.perf_counter() - t_convert
  with open(os.path.join(out_dir, records.REJECTED_FILE), "w") as f:
    for path, reason in rejected:
      f.write(json.dumps({"file": os.path.relpath(path, raw_dir), "reason": reason}) + "\n")
      reasons[_reason_kind(reason)] += 1
    for path, reason in listing.skipped:
      f.write(json.dumps({"file": os.path.relpath(path, raw_dir), "reason": reason,
                          "skipped": True}) + "\n")
  protocols = {p: {"train": 0, "test": 0} for p in spec.protocols}
  for (protocol, split), w in writers.items():
    protocols[protocol][split] = w.count
  info = {
      "dataset": dataset,
      "num_classes": len(listing.class_names),
      "class_names": listing.class_names,
      "num_joints": spec.num_joints,
      "channels": spec.channels,
      "coord_dims": spec.coord_dims,
      "max_persons": 2,
      "bone_pairs": [list(p) for p in spec.bone_pairs],
      "protocols": protocols,
      "preprocessing_version": spec.preprocessing_version,
      "absent": listing.absent,
      "rejected": len(rejected),
      "skipped": len(listing.skipped),
  }
  # Written last: its presence marks a complete conversion.
  with open(os.path.join(out_dir, records.INFO_FILE), "w") as f:
    json.dump(info, f, indent=1)
  inputs = len(tasks) + len(listing.rejected)
  fraction = len(rejected) / max(1, inputs)
  seconds = time.perf_counter() - t0
  return {**info, "inputs": inputs, "reject_fraction": fraction, "reject_reasons": dict(reasons),
          "seconds": seconds, "convert_seconds": convert_seconds, "ok": fraction <= max_reject}


def _reason_kind(reason: str) -> str:
  """A reason with its numbers and quoted values blanked, to count reasons by kind."""
  return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'...'", reason))


def _print_summary(summary: dict, out_dir: str, max_reject: float) -> None:
  rate = summary["inputs"] / max(summary["convert_seconds"], 1e-9)
  print(f"prepared {summary['dataset']} into {out_dir} in {summary['seconds']:.1f} s"
        f" (converting at {rate:.1f} files/s)")
  for protocol, counts in summary["protocols"].items():
    print(f"  {protocol or '(single protocol)'}: " +
          ", ".join(f"{split} {n}" for split, n in counts.items()))
  print(f"  inputs {summary['inputs']}, rejected {summary['rejected']}"
        f" ({100 * summary['reject_fraction']:.2f}%), skipped {summary['skipped']},"
        f" absent from the release {summary['absent']}")
  for reason, n in sorted(summary["reject_reasons"].items(), key=lambda kv: -kv[1]):
    print(f"    {n} x {reason}")
  if summary["rejected"] or summary["skipped"]:
    print(f"  details: {os.path.join(out_dir, records.REJECTED_FILE)}")
  if not summary["ok"]:
    print(f"error: rejected fraction {summary['reject_fraction']:.4f} exceeds --max_reject"
          f" {max_reject}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
  """Runs `prepare` from parsed arguments; returns the exit code."""
  try:
    summary = prepare(args.dataset, args.raw_dir, args.out_dir, workers=max(1, args.workers),
                      max_reject=args.max_reject, shard_size=args.shard_size,
                      progress=not getattr(args, "quiet", False))
  except DataError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  _print_summary(summary, args.out_dir, args.max_reject)
  return 0 if summary["ok"] else 1


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m data_pipelines.prepare", description=__doc__)
  add_arguments(parser)
  return run(parser.parse_args(argv))


if __name__ == "__main__":
  sys.exit(main())
