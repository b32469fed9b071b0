"""Synthetic data on demand for demo configs (`config.data.synthetic`): generate raw files once into
a cache, then prepare them into `config.data.dir` exactly as a real release would be."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from data_pipelines import prepare, records, synthetic
from data_pipelines.errors import DataError

SAMPLES_PER_CLASS = 40
NUM_FRAMES = (50, 100)
DEFAULT_CLASSES = {"ntu60": 60, "ntu120": 120, "nwucla": 10, "kinetics_skeleton": 10,
                   "ntu60_video": 60}
# Synthetic video: small frames and few samples keep generation and a CPU demo within minutes.
# Both modalities are prepared, so one demo folder serves RGB, depth and RGB-D configs.
VIDEO = {"ntu60_video": {"samples_per_class": 16, "num_frames": (24, 40), "size": (96, 128),
                         "short_side": 64}}
_GENERATOR_VERSION = 1  # bump when synthetic.py output changes: invalidates cached raw files
_DONE = "GENERATED"  # no .json: readers never mistake it for a sample


def cache_root() -> str:
  return os.environ.get("ACTIONJAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                           "actionjax")


def synthetic_raw_dir(dataset: str, *, num_classes: int, samples_per_class: int = SAMPLES_PER_CLASS,
                      seed: int = 0, num_frames: tuple[int, int] = NUM_FRAMES) -> str:
  """Raw synthetic release for these settings, generated on first use, then reused from the cache."""
  settings = {"dataset": dataset, "num_classes": num_classes, "samples_per_class": samples_per_class,
              "seed": seed, "num_frames": list(num_frames), "version": _GENERATOR_VERSION}
  key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
  raw_dir = os.path.join(cache_root(), "synthetic", f"{dataset}-{key}")
  if os.path.exists(os.path.join(raw_dir, _DONE)):
    print(f"synthetic {dataset}: reusing raw files in {raw_dir}")
    return raw_dir
  print(f"synthetic {dataset}: generating {num_classes} classes x {samples_per_class} samples"
        f" into {raw_dir}")
  tmp = raw_dir + ".partial"
  shutil.rmtree(tmp, ignore_errors=True)
  if dataset in VIDEO:
    from data_pipelines import synthetic_video
    synthetic_video.write_ntu_video(tmp, num_classes=num_classes, samples_per_class=samples_per_class,
                                    seed=seed, num_frames=tuple(num_frames),
                                    size=VIDEO[dataset]["size"], edge_cases=False)
  else:
    synthetic.write(dataset, tmp, num_classes=num_classes, samples_per_class=samples_per_class,
                    seed=seed, num_frames=tuple(num_frames))
  with open(os.path.join(tmp, _DONE), "w") as f:
    json.dump(settings, f)
  shutil.rmtree(raw_dir, ignore_errors=True)
  os.replace(tmp, raw_dir)  # complete or absent, never half-written
  return raw_dir


def ensure_data(config: Any, *, samples_per_class: int | None = None, workers: int = 1,
                progress: bool = True) -> None:
  """When `config.data.synthetic` names a dataset and `config.data.dir` holds no prepared records,
  generates synthetic raw files (cached) and prepares them into `config.data.dir`."""
  dataset = config.data.synthetic
  if not dataset:
    return
  if dataset not in DEFAULT_CLASSES:
    raise DataError(f"config.data.synthetic={dataset!r} is unknown; known: {', '.join(DEFAULT_CLASSES)}")
  if not config.data.dir:
    raise DataError("config.data.synthetic is set but config.data.dir is empty; pass"
                    " --config.data.dir=DIR for the prepared records")
  if os.path.exists(os.path.join(config.data.dir, records.INFO_FILE)):
    return
  num_classes = config.model.num_classes or DEFAULT_CLASSES[dataset]
  video = VIDEO.get(dataset, {})
  raw_dir = synthetic_raw_dir(dataset, num_classes=num_classes,
                              samples_per_class=samples_per_class or video.get("samples_per_class",
                                                                               SAMPLES_PER_CLASS),
                              seed=config.seed, num_frames=video.get("num_frames", NUM_FRAMES))
  print(f"synthetic {dataset}: preparing records into {config.data.dir}")
  options = ({"modalities": ("rgb", "depth"), "short_side": video["short_side"],
              "skeleton_dir": os.path.join(raw_dir, "nturgb+d_skeletons")} if video else {})
  summary = prepare.prepare(dataset, raw_dir, config.data.dir, workers=workers, progress=progress,
                            **options)
  if not summary["ok"]:
    raise DataError(f"synthetic {dataset}: {summary['rejected']} inputs rejected; see"
                    f" {os.path.join(config.data.dir, records.REJECTED_FILE)}")
