"""Per-dataset conversion shared by `prepare` and the TFDS builders: listing raw inputs, their
splits and labels, and turning one input into a stored sample (reader + denoising)."""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np

from data_pipelines import splits
from data_pipelines.errors import DataError, FormatError
from data_pipelines.formats import kinetics, ntu, nwucla
from data_pipelines.preprocess import denoise

DATASETS = ("ntu60", "ntu120", "nwucla", "kinetics_skeleton")


@dataclasses.dataclass(frozen=True, slots=True)
class Task:
  """One raw input: what it is, where it goes; small and picklable (sent to workers)."""
  name: str
  path: str
  label: int  # 0-based
  ids: tuple[tuple[str, int], ...]
  splits: tuple[tuple[str, str], ...]  # ((protocol, split), ...)
  extra: int = -1  # Kinetics: label_index announced by the label file


@dataclasses.dataclass
class Sample:
  name: str
  keypoint: np.ndarray  # float32 (M, T, V, C)
  label: int
  ids: dict[str, int]


@dataclasses.dataclass
class Listing:
  tasks: list[Task]  # sorted by name
  rejected: list[tuple[str, str]]  # (file, reason): malformed inputs known from names alone
  skipped: list[tuple[str, str]]  # (file, reason): excluded by the protocol, not errors
  absent: int  # expected samples of the full release not found
  class_names: list[str]
  notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (file, remark): accepted


@dataclasses.dataclass(frozen=True)
class Spec:
  dataset: str
  protocols: tuple[str, ...]
  num_joints: int
  channels: int
  bone_pairs: tuple[tuple[int, int], ...]
  preprocessing_version: str
  coord_dims: int  # leading channels that are coordinates (Kinetics: x, y then a score)
  list_inputs: Callable[[str], Listing]
  convert: Callable[[Task], Sample]


def _walk(raw_dir: str, suffix: str) -> list[tuple[str, str]]:
  """(stem, path) of every file ending in `suffix` under raw_dir, sorted by stem then path."""
  if not os.path.isdir(raw_dir):
    raise DataError(f"raw folder {raw_dir} does not exist")
  found = []
  for root, dirs, files in os.walk(raw_dir):
    dirs.sort()
    found += [(f[:-len(suffix)], os.path.join(root, f)) for f in files if f.endswith(suffix)]
  return sorted(found)


def _dedupe(found, rejected):
  out, last = [], None
  for stem, path in found:
    if stem == last:
      rejected.append((path, f"duplicate of another {stem} file"))
      continue
    out.append((stem, path))
    last = stem
  return out


# --- NTU ---------------------------------------------------------------------------------------

def _list_ntu(dataset: str, raw_dir: str) -> Listing:
  rejected, skipped, tasks = [], [], []
  missing = splits.ntu_missing_names(dataset)
  limits = splits.NTU_LIMITS[dataset]
  for stem, path in _dedupe(_walk(raw_dir, ".skeleton"), rejected):
    ids = splits.parse_ntu_name(stem)
    if ids is None:
      rejected.append((path, "file name does not match SsssCcccPpppRrrrAaaa.skeleton"))
      continue
    if not 1 <= ids["action"] <= splits.NTU_MAX["action"]:
      rejected.append((path, f"unknown action id A{ids['action']:03d}"))
      continue
    bad = [k for k, hi in splits.NTU_MAX.items() if not 1 <= ids[k] <= hi]
    if bad:
      rejected.append((path, f"{bad[0]} id {ids[bad[0]]} out of range 1..{splits.NTU_MAX[bad[0]]}"))
      continue
    if ids["action"] > limits["action"] or ids["setup"] > limits["setup"]:
      skipped.append((path, f"not part of {dataset} (NTU-120 sample)"))
      continue
    if stem in missing:
      skipped.append((path, f"listed in {dataset}_missing_skeletons.txt (excluded by the protocols)"))
      continue
    action = ids.pop("action")
    tasks.append(Task(stem, path, action - 1, tuple(ids.items()),
                      tuple(splits.ntu_splits(dataset, {**ids, "action": action}).items())))
  present = {t.name for t in tasks} | {os.path.basename(p).split(".")[0] for p, _ in rejected}
  absent = sum(1 for name in splits.ntu_available_names(dataset) if name not in present)
  return Listing(tasks, rejected, skipped, absent, list(splits.ntu_class_names(dataset)))


def _convert_ntu(task: Task) -> Sample:
  keypoint = denoise.denoise_ntu(ntu.read_ntu(task.path))
  return Sample(task.name, keypoint, task.label, dict(task.ids))


# --- NW-UCLA -----------------------------------------------------------------------------------

NWUCLA_RELEASE_SIZE = 1484


def _list_nwucla(raw_dir: str) -> Listing:
  rejected, tasks = [], []
  for stem, path in _dedupe(_walk(raw_dir, ".json"), rejected):
    ids = splits.parse_nwucla_name(stem)
    if ids is None:
      rejected.append((path, "file name does not match aAA_sSS_eEE_vVV.json"))
      continue
    if ids["action"] not in splits.NWUCLA_ACTIONS:
      rejected.append((path, f"unknown action id a{ids['action']:02d}"))
      continue
    if not 1 <= ids["view"] <= 3:
      rejected.append((path, f"view id {ids['view']} out of range 1..3"))
      continue
    label = splits.NWUCLA_ACTIONS.index(ids.pop("action"))
    tasks.append(Task(stem, path, label, tuple(ids.items()), (("", splits.nwucla_split(ids)),)))
  absent = max(0, NWUCLA_RELEASE_SIZE - len(tasks) - len(rejected))
  return Listing(tasks, rejected, [], absent, list(splits.NWUCLA_CLASS_NAMES))


def _convert_nwucla(task: Task) -> Sample:
  sample = nwucla.read_nwucla(task.path)
  if sample.label != task.label + 1:
    raise FormatError(f"label {sample.label} in the file disagrees with the name's action"
                      f" (expected {task.label + 1})")
  return Sample(task.name, sample.skeletons[None], task.label, dict(task.ids))


# --- Kinetics-Skeleton ---------------------------------------------------------------------------

KINETICS_SPLITS = (("train", "train"), ("val", "test"))  # release split -> stored split


def _list_kinetics(raw_dir: str) -> Listing:
  rejected, skipped, tasks, absent = [], [], [], 0
  names: dict[int, str] = {}
  found_any = False
  for release, split in KINETICS_SPLITS:
    label_path = os.path.join(raw_dir, f"kinetics_{release}_label.json")
    clip_dir = os.path.join(raw_dir, f"kinetics_{release}")
    if not os.path.isfile(label_path) and not os.path.isdir(clip_dir):
      continue
    found_any = True
    if not os.path.isfile(label_path):
      raise DataError(f"{label_path} is missing; it ships with kinetics_{release}/")
    labels = kinetics.read_label_file(label_path)
    for info in labels.values():
      if isinstance(info.get("label_index"), int):
        names.setdefault(info["label_index"], str(info.get("label", "")))
    files = dict(_dedupe(_walk(clip_dir, ".json"), rejected)) if os.path.isdir(clip_dir) else {}
    for clip in sorted(set(files) | set(labels)):
      info, path = labels.get(clip), files.get(clip)
      if path is None:
        absent += 1
        continue
      if info is None:
        rejected.append((path, f"clip not listed in kinetics_{release}_label.json"))
      elif not info.get("has_skeleton", False):
        skipped.append((path, "no skeleton (has_skeleton false in the label file)"))
      elif not isinstance(info.get("label_index"), int) or info["label_index"] < 0:
        rejected.append((path, f"bad label_index {info.get('label_index')!r} in the label file"))
      else:
        tasks.append(Task(clip, path, info["label_index"], (), (("", split),), info["label_index"]))
  if not found_any:
    raise DataError(f"{raw_dir} holds neither kinetics_train/ nor kinetics_val/ with label files")
  num_classes = max(names) + 1 if names else 0
  class_names = [names.get(i, f"class_{i}") for i in range(num_classes)]
  return Listing(tasks, rejected, skipped, absent, class_names)


def _convert_kinetics(task: Task) -> Sample:
  clip = kinetics.read_kinetics(task.path)
  if clip.label_index != task.extra:
    raise FormatError(f"label_index {clip.label_index} in the clip disagrees with the label file"
                      f" ({task.extra})")
  return Sample(task.name, denoise.select_top_persons(clip.data), task.label, {})


SPECS = {
    "ntu60": Spec("ntu60", splits.NTU_PROTOCOLS["ntu60"], ntu.NUM_JOINTS, 3, ntu.BONE_PAIRS,
                  denoise.PREPROCESSING_VERSION["ntu"], 3, lambda d: _list_ntu("ntu60", d),
                  _convert_ntu),
    "ntu120": Spec("ntu120", splits.NTU_PROTOCOLS["ntu120"], ntu.NUM_JOINTS, 3, ntu.BONE_PAIRS,
                   denoise.PREPROCESSING_VERSION["ntu"], 3, lambda d: _list_ntu("ntu120", d),
                   _convert_ntu),
    "nwucla": Spec("nwucla", ("",), nwucla.NUM_JOINTS, 3, nwucla.BONE_PAIRS,
                   denoise.PREPROCESSING_VERSION["nwucla"], 3, _list_nwucla, _convert_nwucla),
    "kinetics_skeleton": Spec("kinetics_skeleton", ("",), kinetics.NUM_JOINTS, 3,
                              kinetics.BONE_PAIRS, denoise.PREPROCESSING_VERSION["kinetics"], 2,
                              _list_kinetics, _convert_kinetics),
}


def spec(dataset: str) -> Spec:
  if dataset not in SPECS:
    raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
  return SPECS[dataset]


def convert(dataset: str, task: Task) -> Sample:
  """Reads and preprocesses one input; raises FormatError (or DataError) with the reason."""
  return SPECS[dataset].convert(task)


@dataclasses.dataclass(frozen=True)
class SkeletonConverter:
  """A skeleton dataset as `prepare` drives it (the interface `video_catalog.VideoConverter` shares):
  picklable, so workers receive it; `convert` runs in workers, `serialize` in the parent."""
  dataset: str
  splits: tuple[str, ...] = ("train", "test")
  default_shard_size: int = 1000  # samples per shard (~30-60 MB of NTU records)
  chunk: int = 16  # samples per worker call

  @property
  def protocols(self) -> tuple[str, ...]:
    return spec(self.dataset).protocols

  def list_inputs(self, raw_dir: str) -> Listing:
    return spec(self.dataset).list_inputs(raw_dir)

  def convert(self, task: Task) -> Sample:
    return convert(self.dataset, task)

  def serialize(self, sample: Sample) -> bytes:
    from data_pipelines import records
    return records.serialize(sample.keypoint, sample.label, sample.name, sample.ids,
                             num_frames=sample.keypoint.shape[1])

  def info(self) -> dict:
    s = spec(self.dataset)
    return {"num_joints": s.num_joints, "channels": s.channels, "coord_dims": s.coord_dims,
            "max_persons": 2, "bone_pairs": [list(p) for p in s.bone_pairs],
            "preprocessing_version": s.preprocessing_version}
