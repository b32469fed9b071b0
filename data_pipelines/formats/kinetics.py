"""Reader of the st-gcn Kinetics-Skeleton release (OpenPose-18 on 340x256 video, JSON per clip).

`frame_index` is 1-based in the genuine files: it is shifted to 0-based and bounds-checked (the
reference feeder indexes with it directly, an off-by-one). Up to `MAX_PERSONS_READ` persons per
frame are read, as the reference feeder does; x, y in [0, 1] and the score are kept raw.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from data_pipelines.errors import FormatError
from data_pipelines.formats import load_json_object

NUM_JOINTS = 18
MAX_FRAMES = 300  # 10 s at 30 fps; the reference feeder's T
MAX_PERSONS_READ = 5
# 1-based bone pairs of the OpenPose-18 tree rooted at the nose (joint 1 gets a zero bone).
BONE_PAIRS = ((1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (6, 2), (7, 6), (8, 7), (9, 3), (10, 9),
              (11, 10), (12, 6), (13, 12), (14, 13), (15, 1), (16, 1), (17, 15), (18, 16))


@dataclasses.dataclass
class KineticsClip:
  data: np.ndarray  # float32 (MAX_PERSONS_READ, T, 18, 3): x, y, score; T = last frame_index
  label: str
  label_index: int


def parse_kinetics(text: str) -> KineticsClip:
  """Parses one clip JSON `{"data": [{"frame_index", "skeleton": [{"pose", "score"}]}], ...}`."""
  content = load_json_object(text)
  if not isinstance(content.get("data"), list):
    raise FormatError("JSON lacks a 'data' list")
  frames = content["data"]
  if not frames:
    raise FormatError("no skeleton frames")
  indices, persons = [], []
  for entry in frames:
    index = entry.get("frame_index") if isinstance(entry, dict) else None
    if not isinstance(index, int) or isinstance(index, bool):
      raise FormatError(f"non-integer frame_index {index!r}")
    if not 1 <= index <= MAX_FRAMES:
      raise FormatError(f"frame_index {index} outside 1..{MAX_FRAMES} (1-based)")
    for m, person in enumerate(entry.get("skeleton") or []):
      if m >= MAX_PERSONS_READ:
        break
      try:
        pose = np.asarray(person["pose"], dtype=np.float64)
        score = np.asarray(person["score"], dtype=np.float64)
      except (ValueError, TypeError, KeyError):
        raise FormatError(f"non-numeric or missing pose/score in frame {index}") from None
      if pose.shape != (2 * NUM_JOINTS,) or score.shape != (NUM_JOINTS,):
        raise FormatError(f"wrong joint count in frame {index}: pose {pose.shape}, score"
                          f" {score.shape}, expected {NUM_JOINTS} joints")
      indices.append((index - 1, m))
      persons.append(np.concatenate([pose.reshape(NUM_JOINTS, 2), score[:, None]], axis=1))
  num_frames = max(e["frame_index"] for e in frames)
  data = np.zeros((MAX_PERSONS_READ, num_frames, NUM_JOINTS, 3), np.float32)
  if persons:
    values = np.stack(persons)
    if not np.isfinite(values).all():
      raise FormatError("non-finite (NaN or Inf) coordinates")
    t, m = np.asarray(indices).T
    data[m, t] = values  # a repeated frame_index overwrites, as in the reference feeder
  label_index = content.get("label_index", -1)
  return KineticsClip(data, str(content.get("label", "")), int(label_index)
                      if isinstance(label_index, int) else -1)


def read_kinetics(path: str) -> KineticsClip:
  with open(path, "rb") as f:
    return parse_kinetics(f.read().decode("utf-8", errors="replace"))


def read_label_file(path: str) -> dict[str, dict]:
  """`kinetics_{train,val}_label.json`: {clip id: {has_skeleton, label, label_index}}."""
  with open(path) as f:
    labels = json.load(f)
  if not isinstance(labels, dict):
    raise FormatError(f"{path}: expected a JSON object of clips")
  return labels
