"""Generic video lists, as toolboxes write them: `<video file> <label>` or
`<frame folder> <num_frames> <label>` (mmaction2 rawframes), told apart per line by the column
count; any whitespace separates columns. Paths are relative to the RGB root; a sample's depth
is the video or frame folder at the same relative path under the depth root. Labels are 0-based
unless `label_base` is 1. The sample name is the relative path without extension.
"""
from __future__ import annotations

import dataclasses
import os

from data_pipelines.errors import DataError


@dataclasses.dataclass(frozen=True)
class Entry:
  split: str
  name: str
  rgb: str  # resolved video file or frame folder; "" when not found
  depth: str
  label: int  # 0-based
  stated_frames: int  # -1 for video lines
  line: int


def parse_line(line: str, label_base: int = 0) -> tuple[str, int, int]:
  """(relative path, stated frames or -1, 0-based label) of one non-empty line."""
  fields = line.split()
  if len(fields) not in (2, 3):
    raise ValueError(f"{len(fields)} columns, expected '<video> <label>' or"
                     " '<frame folder> <num_frames> <label>'")
  try:
    numbers = [int(v) for v in fields[1:]]
  except ValueError:
    raise ValueError(f"non-integer column in {' '.join(fields[1:])[:60]!r}") from None
  stated = numbers[0] if len(numbers) == 2 else -1
  if len(numbers) == 2 and stated < 0:
    raise ValueError(f"negative frame count {stated}")
  label = numbers[-1] - label_base
  if label < 0:
    raise ValueError(f"label {numbers[-1]} below the label base {label_base}")
  return fields[0], stated, label


def sample_name(rel: str, is_folder: bool) -> str:
  rel = os.path.normpath(rel).replace("\\", "/").lstrip("/")
  return rel if is_folder else os.path.splitext(rel)[0]


def _under(root: str, raw_dir: str) -> str:
  return root if os.path.isabs(root) else os.path.join(raw_dir, root)


def list_videos(raw_dir: str, list_files, *, rgb_root: str = "", depth_root: str = "",
                modalities: tuple[str, ...] = ("rgb",), label_base: int = 0):
  """(entries, rejected) of every list in `list_files` ((split, path) pairs; paths and roots
  absolute or relative to `raw_dir`; rgb_root defaults to raw_dir). A line naming a missing
  file is rejected with its line number and path."""
  if not list_files:
    raise DataError("video_list needs list files: (split, path) pairs")
  if "depth" in modalities and not depth_root:
    raise DataError("depth requested but no depth root given")
  rgb_base, depth_base = _under(rgb_root, raw_dir) if rgb_root else raw_dir, ""
  if depth_root:
    depth_base = _under(depth_root, raw_dir)
  entries, rejected, seen = [], [], {}
  for split, list_file in list_files:
    list_path = _under(list_file, raw_dir)
    if not os.path.isfile(list_path):
      raise DataError(f"list file {list_path} ({split}) does not exist")
    with open(list_path, encoding="utf-8", errors="replace") as f:
      lines = f.read().splitlines()
    for no, line in enumerate(lines, 1):
      if not line.strip() or line.lstrip().startswith("#"):
        continue
      where = f"{list_path}:{no}"
      try:
        rel, stated, label = parse_line(line, label_base)
      except ValueError as e:
        rejected.append((where, str(e)))
        continue
      rgb = os.path.join(rgb_base, rel)
      depth = os.path.join(depth_base, rel) if depth_base else ""
      rgb = rgb if os.path.exists(rgb) else ""
      depth = depth if depth and os.path.exists(depth) else ""
      if "rgb" in modalities and not rgb:
        rejected.append((where, f"{rel} not found under {rgb_base}"))
        continue
      if "depth" in modalities and not depth:
        rejected.append((where, f"depth {rel} not found under {depth_base}"))
        continue
      name = sample_name(rel, os.path.isdir(rgb or depth))
      if name in seen:
        rejected.append((where, f"{name} already listed at {seen[name]}"))
        continue
      seen[name] = where
      entries.append(Entry(split, name, rgb, depth, label, stated, no))
  return entries, rejected
