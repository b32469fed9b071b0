"""Conversion throughput of `prepare` on synthetic NTU files of realistic size (~100 frames,
1-2 bodies), with 1 and 2 workers, and the projected time for the full NTU-120 release.

    python benchmarks/convert.py [--files 600] [--workers 1,2]

Prints one JSON line and writes benchmarks/results/convert.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time

from data_pipelines import prepare, records, synthetic

NTU120_FILES = 114_480  # .skeleton files in the full NTU-120 release (113,945 used + 535 missing)


def _cpu_seconds() -> float:
  """User + system CPU of this process and its finished children (the worker pool)."""
  own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--files", type=int, default=600, help="synthetic files (multiple of 60)")
  parser.add_argument("--workers", default="1,2")
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                    "convert.json"))
  args = parser.parse_args(argv)
  tmp = tempfile.mkdtemp(prefix="convert_bench_")
  try:
    raw = os.path.join(tmp, "raw")
    t0 = time.perf_counter()
    paths = synthetic.write_ntu(raw, num_classes=60, samples_per_class=max(1, args.files // 60),
                                num_frames=(80, 120), seed=0)
    gen_s = time.perf_counter() - t0
    mean_bytes = sum(os.path.getsize(p) for p in paths) / len(paths)
    result = {"benchmark": "convert", "dataset": "ntu60 (synthetic)", "files": len(paths),
              "mean_file_kb": round(mean_bytes / 1024, 1),
              "generate_files_per_s": round(len(paths) / gen_s, 1),
              "cpus": os.cpu_count(), "load_avg_1min_before": round(os.getloadavg()[0], 2),
              "python": platform.python_version()}
    records._tf()  # TensorFlow's import (seconds, once per run) is not a per-file cost
    for workers in (int(w) for w in args.workers.split(",")):
      out = os.path.join(tmp, f"out{workers}")
      cpu0 = _cpu_seconds()
      t0 = time.perf_counter()
      summary = prepare.prepare("ntu60", raw, out, workers=workers, progress=False)
      seconds = time.perf_counter() - t0
      cpu_per_file = (_cpu_seconds() - cpu0) / len(paths)
      rate = len(paths) / seconds
      result[f"workers_{workers}"] = {
          "seconds": round(seconds, 2), "files_per_s": round(rate, 1),
          "ntu120_projected_minutes": round(NTU120_FILES / rate / 60, 1),
          # CPU time of parent + workers: what the run costs on cores nobody else uses.
          "cpu_ms_per_file": round(1000 * cpu_per_file, 2),
          "ntu120_projected_minutes_idle_cores": round(
              NTU120_FILES * cpu_per_file / min(workers, os.cpu_count() or 1) / 60, 1),
          "rejected": summary["rejected"]}
    result["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    # Peak resident memory of the writing process (KiB on Linux); flat in --files when streaming.
    result["peak_rss_mb_parent"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  print(json.dumps(result))
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)
  return result


if __name__ == "__main__":
  main(sys.argv[1:])
