"""Reader of NTU RGB+D `.skeleton` text files (layout in datasets.md).

Lines end in CRLF (LF accepted too). Frames with 0 bodies are dropped, as the reference converter
does; frames may hold more than two bodies. Body ids are 17-digit integers parsed with `int` (a
float would merge distinct bodies). Only x, y, z (camera space, metres) are kept, but every one of
the 12 joint fields must be numeric.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from data_pipelines.errors import FormatError

NUM_JOINTS = 25
BODY_FIELDS = 10
JOINT_FIELDS = 12
# 1-based pairs, `bone[v1] = joint[v1] - joint[v2]`; joint 21 gets a zero bone (datasets.md).
BONE_PAIRS = ((1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
              (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
              (20, 19), (22, 23), (21, 21), (23, 8), (24, 25), (25, 12))


@dataclasses.dataclass
class Body:
  body_id: int
  frames: np.ndarray  # int64 (n,): increasing indices into the non-empty frames
  joints: np.ndarray  # float32 (n, 25, 3): x, y, z


@dataclasses.dataclass
class NtuSkeleton:
  num_frames: int  # frames holding at least one body
  declared_frames: int  # frame count written in the file
  bodies: list[Body]  # in order of first appearance


def _int(text: str, what: str, line_no: int) -> int:
  try:
    return int(text)
  except ValueError:
    raise FormatError(f"non-numeric {what} {text[:40]!r} at line {line_no}") from None


def parse_ntu(text: str) -> NtuSkeleton:
  """Parses the content of one `.skeleton` file; raises FormatError naming the first problem."""
  lines = text.split("\n")
  while lines and not lines[-1].strip():
    lines.pop()
  if not lines:
    raise FormatError("empty file")
  n = len(lines)
  declared = _int(lines[0].strip(), "frame count", 1)
  if declared <= 0:
    raise FormatError(f"frame count {declared} is not positive")
  pos = 1
  block_starts: list[int] = []  # first joint line of each (frame, body)
  block_frame: list[int] = []
  block_body: list[int] = []
  frame = 0  # index among non-empty frames
  for f in range(declared):
    if pos >= n:
      raise FormatError(f"truncated: frame {f + 1} of {declared} missing")
    num_bodies = _int(lines[pos].strip(), "body count", pos + 1)
    pos += 1
    if num_bodies < 0:
      raise FormatError(f"negative body count at line {pos}")
    seen = set()
    for _ in range(num_bodies):
      if pos + 1 >= n:
        raise FormatError(f"truncated: body header of frame {f + 1} missing")
      fields = lines[pos].split()
      if len(fields) != BODY_FIELDS:
        raise FormatError(f"body line {pos + 1} has {len(fields)} fields, expected {BODY_FIELDS}")
      body_id = _int(fields[0], "body id", pos + 1)
      num_joints = _int(lines[pos + 1].strip(), "joint count", pos + 2)
      if num_joints != NUM_JOINTS:
        raise FormatError(f"wrong joint count {num_joints} at line {pos + 2}, expected {NUM_JOINTS}")
      pos += 2
      if pos + NUM_JOINTS > n:
        raise FormatError(f"truncated: joints of frame {f + 1} cut off")
      if body_id not in seen:  # a repeated id within one frame keeps its first entry
        seen.add(body_id)
        block_starts.append(pos)
        block_frame.append(frame)
        block_body.append(body_id)
      pos += NUM_JOINTS
    if num_bodies:
      frame += 1
  if not block_starts:
    raise FormatError("no body in any frame")
  joint_lines = [line for s in block_starts for line in lines[s:s + NUM_JOINTS]]
  tokens = " ".join(joint_lines).split()
  if len(tokens) != len(joint_lines) * JOINT_FIELDS:
    raise FormatError(f"joint lines hold {len(tokens)} fields, expected {JOINT_FIELDS} per joint")
  try:
    values = np.array(tokens, dtype=np.float64)
  except ValueError:
    bad = next(t for t in tokens if not _is_float(t))
    raise FormatError(f"non-numeric joint field {bad[:40]!r}") from None
  xyz = values.reshape(len(block_starts), NUM_JOINTS, JOINT_FIELDS)[:, :, :3]
  if not np.isfinite(xyz).all():
    raise FormatError("non-finite (NaN or Inf) coordinates")
  xyz = xyz.astype(np.float32)
  order: dict[int, list[int]] = {}
  for i, body_id in enumerate(block_body):
    order.setdefault(body_id, []).append(i)
  frames = np.asarray(block_frame, dtype=np.int64)
  bodies = [Body(body_id, frames[idx], xyz[idx]) for body_id, idx in order.items()]
  return NtuSkeleton(num_frames=frame, declared_frames=declared, bodies=bodies)


def _is_float(text: str) -> bool:
  try:
    float(text)
    return True
  except ValueError:
    return False


def read_ntu(path: str) -> NtuSkeleton:
  """Reads one `.skeleton` file (see `parse_ntu`)."""
  with open(path, "rb") as f:
    data = f.read()
  # latin-1 never fails to decode: stray bytes surface as non-numeric fields instead.
  return parse_ntu(data.decode("latin-1"))
