"""ChaLearn IsoGD list files and release layout (datasets.md, "ChaLearn IsoGD").

`{train,valid,test}_list.txt`, one clip per line: `train/001/M_00001.avi train/001/K_00001.avi 26`
(RGB video, 8-bit depth video, 1-based label 1-249). The phase-1 valid list shipped without
labels: 2-column lines are accepted as unlabelled (-1) and reported. Paths are relative to the
folder that holds `train/` etc.: the raw folder itself or the release's `IsoGD_phase_1/`
(train, valid) and `IsoGD_phase_2/` (test).
"""
from __future__ import annotations

import dataclasses
import os

from data_pipelines.errors import DataError

SPLITS = ("train", "valid", "test")
EXPECTED = {"train": 35878, "valid": 5784, "test": 6271}
NUM_CLASSES = 249
PHASE_DIRS = ("IsoGD_phase_1", "IsoGD_phase_2")


@dataclasses.dataclass(frozen=True)
class Entry:
  split: str
  name: str  # the RGB path without extension, e.g. train/001/M_00001
  rgb: str  # resolved path, "" when not found
  depth: str
  label: int  # 0-based; -1 when the list carries none
  line: int


@dataclasses.dataclass
class Lists:
  entries: list[Entry]
  rejected: list[tuple[str, str]]  # ("<list file>:<line>", reason)
  notes: list[tuple[str, str]]  # (file, message) about a whole list
  absent: int  # expected clips of the splits present that no list line names


def parse_line(line: str) -> tuple[str, str, int]:
  """(rgb, depth, 0-based label or -1) of one non-empty line; ValueError names the problem."""
  fields = line.split()
  if len(fields) not in (2, 3):
    raise ValueError(f"{len(fields)} columns, expected 'M_*.avi K_*.avi label'")
  if len(fields) == 2:
    return fields[0], fields[1], -1
  try:
    label = int(fields[2])
  except ValueError:
    raise ValueError(f"label {fields[2][:40]!r} is not an integer") from None
  if not 1 <= label <= NUM_CLASSES:
    raise ValueError(f"label {label} out of range 1..{NUM_CLASSES}")
  return fields[0], fields[1], label - 1


def find_list(raw_dir: str, split: str) -> str | None:
  """`<split>_list.txt` in the raw folder or a release phase folder."""
  for folder in ("",) + PHASE_DIRS:
    path = os.path.join(raw_dir, folder, f"{split}_list.txt")
    if os.path.isfile(path):
      return path
  return None


def _resolve(rel: str, bases: list[str]) -> str:
  for base in bases:
    path = os.path.join(base, rel)
    if os.path.isfile(path):
      return path
  return ""


def list_isogd(raw_dir: str, modalities: tuple[str, ...]) -> Lists:
  """Entries of every list present; lines naming a missing file of a requested modality, bad
  columns or labels are rejected with their line number."""
  if not os.path.isdir(raw_dir):
    raise DataError(f"raw folder {raw_dir} does not exist")
  out = Lists([], [], [], 0)
  found_any = False
  for split in SPLITS:
    list_path = find_list(raw_dir, split)
    if list_path is None:
      for folder in ("",) + PHASE_DIRS:
        if os.path.isdir(os.path.join(raw_dir, folder, split)):
          out.notes.append((os.path.join(raw_dir, folder, split),
                            f"{split}_list.txt not found: the {split} clips are not listed"))
      continue
    found_any = True
    bases = list(dict.fromkeys([os.path.dirname(list_path), raw_dir] +
                               [os.path.join(raw_dir, d) for d in PHASE_DIRS]))
    with open(list_path, encoding="utf-8", errors="replace") as f:
      lines = f.read().splitlines()
    seen: dict[str, int] = {}
    lines_found = unlabelled = 0
    for no, line in enumerate(lines, 1):
      if not line.strip():
        continue
      lines_found += 1
      where = f"{list_path}:{no}"
      try:
        rgb_rel, depth_rel, label = parse_line(line)
      except ValueError as e:
        out.rejected.append((where, str(e)))
        continue
      name = os.path.splitext(rgb_rel)[0].replace("\\", "/")
      if name in seen:
        out.rejected.append((where, f"{rgb_rel} already listed at line {seen[name]}"))
        continue
      seen[name] = no
      rgb, depth = _resolve(rgb_rel, bases), _resolve(depth_rel, bases)
      missing = [rel for rel, path, m in ((rgb_rel, rgb, "rgb"), (depth_rel, depth, "depth"))
                 if m in modalities and not path]
      if missing:
        out.rejected.append((where, f"{missing[0]} not found"))
        continue
      unlabelled += label < 0
      out.entries.append(Entry(split, name, rgb, depth, label, no))
    if unlabelled:
      out.notes.append((list_path, f"labels missing in {os.path.basename(list_path)}"
                                   f" ({unlabelled} lines)"))
    out.absent += max(0, EXPECTED[split] - lines_found)
  if not found_any:
    raise DataError(f"no {', '.join(s + '_list.txt' for s in SPLITS)} in {raw_dir} or its"
                    f" {' / '.join(PHASE_DIRS)} folders")
  return out
