"""Reader of the NW-UCLA `all_sqe` JSON release (one file per video, 20 Kinect-v1 joints)."""
from __future__ import annotations

import dataclasses

import numpy as np

from data_pipelines.errors import FormatError
from data_pipelines.formats import load_json_object

NUM_JOINTS = 20
# 1-based bone pairs of the 20-joint layout (datasets.md).
BONE_PAIRS = ((1, 2), (2, 3), (3, 3), (4, 3), (5, 3), (6, 5), (7, 6), (8, 7), (9, 3), (10, 9),
              (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
              (20, 19))


@dataclasses.dataclass
class NwuclaSample:
  file_name: str
  skeletons: np.ndarray  # float32 (T, 20, 3)
  label: int  # 1-based, as in the file


def parse_nwucla(text: str) -> NwuclaSample:
  """Parses one JSON file `{"file_name", "skeletons": [T][20][3], "label"}`; T may be 1."""
  content = load_json_object(text)
  if "skeletons" not in content or "label" not in content:
    raise FormatError("JSON lacks 'skeletons' or 'label'")
  try:
    skeletons = np.asarray(content["skeletons"], dtype=np.float64)
  except (ValueError, TypeError):
    raise FormatError("non-numeric or ragged 'skeletons'") from None
  if skeletons.ndim != 3 or skeletons.shape[0] == 0 or skeletons.shape[2] != 3:
    raise FormatError(f"'skeletons' has shape {skeletons.shape}, expected (T >= 1, {NUM_JOINTS}, 3)")
  if skeletons.shape[1] != NUM_JOINTS:
    raise FormatError(f"wrong joint count {skeletons.shape[1]}, expected {NUM_JOINTS}")
  if not np.isfinite(skeletons).all():
    raise FormatError("non-finite (NaN or Inf) coordinates")
  label = content["label"]
  if not isinstance(label, int) or isinstance(label, bool):
    raise FormatError(f"non-integer label {label!r}")
  return NwuclaSample(str(content.get("file_name", "")), skeletons.astype(np.float32), label)


def read_nwucla(path: str) -> NwuclaSample:
  with open(path, "rb") as f:
    return parse_nwucla(f.read().decode("utf-8", errors="replace"))
