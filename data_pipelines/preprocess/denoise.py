"""SGN / CTR-GCN skeleton denoising and actor selection (datasets.md, "Standard preprocessing").

NTU: drop bodies living <= 11 frames; drop bodies whose ratio of spread-noisy frames
(x-extent > 0.8 y-extent) is >= 0.69754; sort the rest by motion (summed joint variance), the
largest is actor 1; bodies not overlapping actor 1 in time merge into it, otherwise into actor 2;
frames where both actors are missing are removed. Coordinates stay raw (no centring).
The reference's unused motion-threshold step is left off, as published numbers were made without it.

Differences from the reference code, where it would crash or misplace data: a body is placed at the
frames it was seen in (the reference assumes each body's frames are contiguous), and when every
body of a multi-body file is short the longest one is kept (the reference raises).

Kinetics: per frame, the persons with the highest summed joint score are kept (st-gcn feeder).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from data_pipelines.formats.ntu import Body, NtuSkeleton

LENGTH_THRESHOLD = 11  # bodies with <= this many frames are noise
SPREAD_RATIO = 0.8  # a frame is noisy when x-extent > SPREAD_RATIO * y-extent
NOISY_FRAME_RATIO = 0.69754  # a body is noise when its noisy-frame ratio is >= this
MAX_ACTORS = 2
PREPROCESSING_VERSION = {
    "ntu": "ctrgcn-denoise-1",
    "nwucla": "raw-1",
    "kinetics": "top2-score-1",
}


def motion(joints: np.ndarray) -> float:
  """Sum over x, y, z of the variance over all frames and joints (the reference's `motion`)."""
  return float(np.sum(np.var(joints.reshape(-1, joints.shape[-1]), axis=0)))


def spread_noisy_frames(joints: np.ndarray) -> np.ndarray:
  """bool (n,): frames whose x-extent exceeds SPREAD_RATIO times the y-extent."""
  extent = joints.max(axis=1) - joints.min(axis=1)  # (n, 3)
  return extent[:, 0] > SPREAD_RATIO * extent[:, 1]


def denoise_bodies(bodies: Sequence[Body]) -> list[Body]:
  """Kept bodies, sorted by motion (largest first). A single body is kept as it is."""
  bodies = list(bodies)
  if len(bodies) <= 1:
    return bodies
  kept = [b for b in bodies if len(b.frames) > LENGTH_THRESHOLD]
  if not kept:
    kept = [max(bodies, key=lambda b: len(b.frames))]
  if len(kept) == 1:
    return kept
  motions = {id(b): motion(b.joints) for b in kept}
  survivors = list(kept)
  for body in kept:
    if len(survivors) == 1:  # the spread rule never removes the last body
      break
    noisy = spread_noisy_frames(body.joints)
    num_noisy = int(noisy.sum())
    if num_noisy == 0:
      continue
    if num_noisy / len(body.frames) >= NOISY_FRAME_RATIO:
      survivors.remove(body)
    else:
      motions[id(body)] = min(motions[id(body)], motion(body.joints[~noisy]))
  return sorted(survivors, key=lambda b: -motions[id(b)])  # stable: ties keep file order


def select_actors(bodies: Sequence[Body], num_frames: int) -> np.ndarray:
  """Places motion-sorted bodies into at most two actors; float32 (M, T, V, 3), M in {1, 2}.

  Intervals follow the reference arithmetic: two bodies overlap when
  `min(end_a, end_b) - max(start_a, start_b) > 0`, and actor 2's interval starts as [0, 0].
  Frames where both actors are missing are removed.
  """
  if not bodies:
    raise ValueError("no body to select")
  num_joints = bodies[0].joints.shape[1]
  out = np.zeros((MAX_ACTORS, num_frames, num_joints, 3), np.float32)
  present = np.zeros((MAX_ACTORS, num_frames), bool)
  first = bodies[0]
  out[0, first.frames] = first.joints
  present[0, first.frames] = True
  spans = [[int(first.frames[0]), int(first.frames[-1])], [0, 0]]
  for body in bodies[1:]:
    start, end = int(body.frames[0]), int(body.frames[-1])
    for actor in range(MAX_ACTORS):
      s, e = spans[actor]
      if min(e, end) - max(s, start) <= 0:
        out[actor, body.frames] = body.joints
        present[actor, body.frames] = True
        spans[actor] = [min(s, start), max(e, end)]
        break
  num_actors = 2 if present[1].any() else 1
  keep = present.any(axis=0)
  return out[:num_actors, keep]


def denoise_ntu(skeleton: NtuSkeleton) -> np.ndarray:
  """Reader output -> float32 (M, T, 25, 3) raw coordinates of at most two actors."""
  return select_actors(denoise_bodies(skeleton.bodies), skeleton.num_frames)


def select_top_persons(data: np.ndarray, num_persons: int = MAX_ACTORS) -> np.ndarray:
  """Kinetics: per frame, the `num_persons` persons with the highest summed score (channel 2).

  `data` is (P, T, V, 3); returns (M, T, V, 3) with M = min(num_persons, P), trimmed to the persons
  that ever appear (at least one).
  """
  order = np.argsort(-data[..., 2].sum(axis=2), axis=0, kind="stable")  # (P, T)
  ranked = np.take_along_axis(data, order[:, :, None, None], axis=0)[:num_persons]
  seen = (ranked[..., 2] > 0).any(axis=(1, 2))
  return ranked[:max(1, int(seen.sum()))] if seen.any() else ranked[:1]
