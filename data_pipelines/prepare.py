"""`actionjax prepare <dataset> --raw_dir DIR --out_dir DIR`: raw release -> sharded TFRecords.

One driver for every dataset: a converter (`catalog.SkeletonConverter` for skeletons,
`video_catalog.VideoConverter` for video) lists the inputs, converts one in a worker and serialises
it in the parent.

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

_CHUNKS_PER_WORKER = 4  # chunks in flight per worker: bounds memory of finished samples


VIDEO_DATASETS = ("ntu60_video", "ntu120_video", "isogd", "video_list")
DATASETS = catalog.DATASETS + VIDEO_DATASETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds the `prepare` arguments (shared by the actionjax CLI and `python -m`)."""
  parser.add_argument("dataset", choices=DATASETS)
  parser.add_argument("--raw_dir", default="",
                      help="release as shipped: NTU .skeleton folder, NW-UCLA all_sqe folder, the"
                           " folder holding kinetics_{train,val}/ and their label files, the folder"
                           " holding nturgb+d_rgb/ and/or nturgb+d_depth_masked/ (NTU video), or the"
                           " IsoGD folder with {train,valid,test}/ and the list files; video_list:"
                           " defaults to --rgb_root")
  parser.add_argument("--out_dir", required=True, help="where shards and dataset_info.json go")
  parser.add_argument("--workers", type=int, default=1, help="conversion processes")
  parser.add_argument("--max_reject", type=float, default=0.01,
                      help="exit non-zero when more than this fraction of inputs is rejected")
  parser.add_argument("--shard_size", type=int, default=0,
                      help="samples per shard (0: 1000 for skeletons, 100 for video); the shard"
                           " count of a split is ceil(n / shard_size)")
  parser.add_argument("--quiet", action="store_true", help="no progress bar")
  video = parser.add_argument_group("video datasets (ntu60_video, ntu120_video, isogd, video_list)")
  video.add_argument("--modalities", default="rgb,depth",
                     help="rgb, depth or rgb,depth (both stored in one record per sample)")
  video.add_argument("--short_side", type=int, default=0,
                     help="resize frames so their short side is this many pixels (0: the dataset's"
                          " default: NTU 256, IsoGD 240 = unchanged, video_list 256; -1: keep the"
                          " source size)")
  video.add_argument("--jpeg_quality", type=int, default=90, help="JPEG quality of stored RGB frames")
  video.add_argument("--depth_format", choices=("png", "jpeg"), default="png",
                     help="encoding of 8-bit depth video frames (16-bit depth is always PNG)")
  video.add_argument("--crop", choices=("", "person", "centre", "none"), default="",
                     help="person (NTU's default): a person-centred square from --skeleton_dir or"
                          " the depth mask, else the centre square; centre: the centre square;"
                          " none (the default elsewhere): whole frames")
  video.add_argument("--skeleton_dir", default="",
                     help="NTU: the .skeleton folder, for the person crop (default:"
                          " <raw_dir>/nturgb+d_skeletons when it exists)")
  video.add_argument("--list_file", action="append", default=[], metavar="SPLIT=FILE",
                     help="video_list: one per split, e.g. --list_file train=train.txt"
                          " --list_file test=val.txt")
  video.add_argument("--rgb_root", default="", help="video_list: folder the list paths are relative to")
  video.add_argument("--depth_root", default="",
                     help="video_list: the same relative paths here are the depth counterparts")
  video.add_argument("--label_base", type=int, choices=(0, 1), default=0,
                     help="video_list: 1 when the list's labels are 1-based")


def converter_for(dataset: str, args: argparse.Namespace | None = None, **options):
  """The converter of `dataset`; video options from parsed CLI arguments and/or keywords."""
  if dataset in catalog.DATASETS:
    return catalog.SkeletonConverter(dataset)
  if dataset not in VIDEO_DATASETS:
    raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
  from data_pipelines.formats import video_catalog
  if args is not None:
    list_files = []
    for item in args.list_file:
      split, eq, path = item.partition("=")
      if not eq or not split or not path:
        raise DataError(f"--list_file {item!r} must look like SPLIT=FILE, e.g. train=train.txt")
      list_files.append((split, path))
    options = dict(modalities=tuple(m for m in args.modalities.split(",") if m),
                   short_side=args.short_side, jpeg_quality=args.jpeg_quality,
                   depth_format=args.depth_format, crop=args.crop, skeleton_dir=args.skeleton_dir,
                   list_files=tuple(list_files), rgb_root=args.rgb_root or args.raw_dir,
                   depth_root=args.depth_root, label_base=args.label_base) | options
  bad = [m for m in options.get("modalities", ()) if m not in ("rgb", "depth")]
  if bad:
    raise DataError(f"--modalities: unknown modality {bad[0]!r}; use rgb, depth or rgb,depth")
  return video_catalog.VideoConverter(dataset, video_catalog.VideoOptions(**options))


def convert_one(converter, task) -> tuple[str, object]:
  """Worker: ('ok', sample) or ('reject', reason). Workers stay free of TensorFlow (fast start)."""
  try:
    return "ok", converter.convert(task)
  except DataError as e:
    return "reject", str(e)
  except Exception as e:  # anything else unreadable is recorded too; conversion goes on
    return "reject", f"{type(e).__name__}: {e}"


def _convert_chunk(converter, tasks: Sequence) -> list[tuple[str, object]]:
  return [convert_one(converter, t) for t in tasks]


def _results(converter, tasks: Sequence, workers: int) -> Iterator[tuple]:
  """Conversion results in input order from `workers` processes; a sliding window of chunks keeps
  the workers busy while bounding how many finished samples wait in memory."""
  if workers <= 1:
    yield from (convert_one(converter, t) for t in tasks)
    return
  size = converter.chunk
  chunks = (tasks[i:i + size] for i in range(0, len(tasks), size))
  # spawn: the parent has TensorFlow loaded, and forking it can deadlock.
  with multiprocessing.get_context("spawn").Pool(workers) as pool:
    pending = collections.deque(pool.apply_async(_convert_chunk, (converter, c))
                                for c in itertools.islice(chunks, workers * _CHUNKS_PER_WORKER))
    while pending:
      done = pending.popleft().get()
      following = next(chunks, None)
      if following is not None:
        pending.append(pool.apply_async(_convert_chunk, (converter, following)))
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


NOTES_FILE = "notes.jsonl"


def _clear(out_dir: str, protocols: Sequence[str], split_names: Sequence[str]) -> None:
  """Removes an earlier run's info and shards so stale files never mix with new ones."""
  for name in (records.INFO_FILE, records.REJECTED_FILE, NOTES_FILE):
    if os.path.exists(os.path.join(out_dir, name)):
      os.remove(os.path.join(out_dir, name))
  for protocol in protocols:
    for split in split_names:
      for path in records.split_files(out_dir, protocol, split):
        os.remove(path)


def prepare(dataset: str, raw_dir: str, out_dir: str, *, workers: int = 1, max_reject: float = 0.01,
            shard_size: int = 0, progress: bool = True, converter=None, **options) -> dict:
  """Converts one dataset; returns the summary (dataset_info plus run figures and `ok`).

  Video datasets take `VideoOptions` as keywords (modalities, short_side, list_files, ...) or a
  ready `converter`."""
  converter = converter or converter_for(dataset, **options)
  shard_size = shard_size or converter.default_shard_size
  if shard_size < 1 or not 0.0 <= max_reject <= 1.0:
    raise DataError(f"--shard_size must be >= 1 and --max_reject in [0, 1], got {shard_size},"
                    f" {max_reject}")
  t0 = time.perf_counter()
  listing = converter.list_inputs(raw_dir)
  tasks = listing.tasks
  if not tasks and not listing.rejected:
    raise DataError(f"no {dataset} inputs found under {raw_dir}")
  os.makedirs(out_dir, exist_ok=True)
  _clear(out_dir, converter.protocols, converter.splits)
  expected = collections.Counter(ps for t in tasks for ps in t.splits)
  _ensure_open_files(sum(_num_shards(n, shard_size) for n in expected.values()))
  writers = {}
  for protocol, split in sorted(expected):
    os.makedirs(records.split_dir(out_dir, protocol), exist_ok=True)
    writers[protocol, split] = _ShardWriters(records.split_dir(out_dir, protocol), split,
                                             expected[protocol, split], shard_size)
  rejected = list(listing.rejected)
  notes = list(listing.notes)
  unlabelled = collections.Counter()
  depth_bits = set()
  reasons = collections.Counter()
  t_convert = time.perf_counter()
  bar = tqdm(total=len(tasks), unit="sample", desc=f"prepare {dataset}", disable=not progress)
  try:
    for task, (status, value) in zip(tasks, _results(converter, tasks, workers)):
      if status == "ok":
        record = converter.serialize(value)
        for ps in task.splits:
          writers[ps].write(record)
          unlabelled[ps[1]] += value.label < 0
        notes += [(task.path, note) for note in getattr(value, "notes", ())]
        if getattr(value, "depth", None) is not None:
          depth_bits.add(value.depth.bits)
      else:
        rejected.append((task.path, value))
      bar.update(1)
  finally:
    bar.close()
    for w in writers.values():
      w.close()
  convert_seconds = time.perf_counter() - t_convert
  rel = lambda path: os.path.relpath(path, raw_dir) if raw_dir else path
  with open(os.path.join(out_dir, records.REJECTED_FILE), "w") as f:
    for path, reason in rejected:
      f.write(json.dumps({"file": rel(path), "reason": reason}) + "\n")
      reasons[_reason_kind(reason)] += 1
    for path, reason in listing.skipped:
      f.write(json.dumps({"file": rel(path), "reason": reason, "skipped": True}) + "\n")
  with open(os.path.join(out_dir, NOTES_FILE), "w") as f:
    for path, note in notes:
      f.write(json.dumps({"file": rel(path), "note": note}) + "\n")
  protocols = {p: {s: 0 for s in converter.splits} for p in converter.protocols}
  for (protocol, split), w in writers.items():
    protocols[protocol][split] = w.count
  info = {
      "dataset": dataset,
      "num_classes": len(listing.class_names),
      "class_names": listing.class_names,
      **converter.info(),
      "protocols": protocols,
      "absent": listing.absent,
      "rejected": len(rejected),
      "skipped": len(listing.skipped),
      "notes": len(notes),
  }
  if any(unlabelled.values()):
    info["unlabelled"] = {s: n for s, n in unlabelled.items() if n}
  if depth_bits:
    info["depth_bits"] = sorted(depth_bits)
    if info.get("depth_max") == 255.0 and 16 in depth_bits:
      # 16-bit depth of a user's list has no known unit: the trainer asks for data.depth_max.
      del info["depth_max"]
  # Written last: its presence marks a complete conversion.
  with open(os.path.join(out_dir, records.INFO_FILE), "w") as f:
    json.dump(info, f, indent=1)
  inputs = len(tasks) + len(listing.rejected)
  fraction = len(rejected) / max(1, inputs)
  seconds = time.perf_counter() - t0
  return {**info, "inputs": inputs, "reject_fraction": fraction, "reject_reasons": dict(reasons),
          "note_kinds": dict(collections.Counter(_reason_kind(n) for _, n in notes)),
          "seconds": seconds, "convert_seconds": convert_seconds, "ok": fraction <= max_reject}


def _reason_kind(reason: str) -> str:
  """A reason with its numbers and quoted values blanked, to count reasons by kind."""
  return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'...'", reason))


def _print_summary(summary: dict, out_dir: str, max_reject: float) -> None:
  rate = summary["inputs"] / max(summary["convert_seconds"], 1e-9)
  print(f"prepared {summary['dataset']} into {out_dir} in {summary['seconds']:.1f} s"
        f" (converting at {rate:.1f} samples/s)")
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
  if summary["notes"]:
    print(f"  converted with notes: {summary['notes']} ({os.path.join(out_dir, NOTES_FILE)})")
    for note, n in sorted(summary["note_kinds"].items(), key=lambda kv: -kv[1]):
      print(f"    {n} x {note}")
  for split, n in summary.get("unlabelled", {}).items():
    print(f"  {split}: {n} samples without labels (stored with label -1)")
  if not summary["ok"]:
    print(f"error: rejected fraction {summary['reject_fraction']:.4f} exceeds --max_reject"
          f" {max_reject}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
  """Runs `prepare` from parsed arguments; returns the exit code."""
  try:
    if not args.raw_dir and not (args.dataset == "video_list" and args.rgb_root):
      raise DataError(f"--raw_dir is required for {args.dataset}")
    summary = prepare(args.dataset, args.raw_dir or args.rgb_root, args.out_dir,
                      workers=max(1, args.workers), max_reject=args.max_reject,
                      shard_size=args.shard_size, progress=not getattr(args, "quiet", False),
                      converter=converter_for(args.dataset, args))
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
