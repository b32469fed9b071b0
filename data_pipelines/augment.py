"""Skeleton temporal sampling, geometric augmentation and input streams, in TF ops for tf.data.

Every function works on one sample `x` float32 (M, T, V, C). Random functions take their uniform
draws as arguments (`p`, `u`, `angles`, ...) so that the pipeline derives them statelessly from
(seed, epoch, position) and tests can pass fixed values; `draw_*` helpers make those draws from a
stateless key with `tf.random.stateless_*`.

Recipes (datasets.md, "Training-time augmentation"):
- crop-resize (CTR-GCN `valid_crop_resize`, MAMP, SLnL-rFA §4.1): a random contiguous window of
  p ~ U[crop_ratio] of the valid frames (at least min(64, valid)), linearly resized along time
  (half-pixel centres, as bilinear with align_corners=False); test: the centred window, fixed p.
- uniform sampling (pyskl `UniformSampleFrames`): valid frames cut into T segments, one random frame
  per segment. Sequences shorter than T repeat frames in order (pyskl loops them instead).
- rotation (CTR-GCN `random_rot`): angles uniform in [-r, r] about x, y and z, R = Rz Ry Rx. 2D
  (x, y, score) data is rotated in-plane only (about z), the score is left alone.
- scale (CTR-GCN NW-UCLA): one isotropic factor uniform in [1 - s, 1 + s].
- view rotation (CTR-GCN NW-UCLA `rand_view_transform`, rotation_axes='xy'): angles uniform in
  [-r, r] about y, then x (R = Rx Ry); the recipe draws whole degrees in [-60, 60], we draw reals.
- min-max (CTR-GCN NW-UCLA): after the geometry, each coordinate axis of the whole sequence is
  mapped to [-1, 1] by its min and max (which cancels the isotropic scale, as in the recipe).
- streams: bone[v1] = joint[v1] - joint[v2] over 1-based pairs; joints that are no pair's v1 (or are
  their own v2) get a zero bone; motion x[t+1] - x[t] with the last frame 0. For 2D data the score
  channel of a bone / motion is the mean of the two scores it joins (pyskl's choice for 2D).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

STREAMS = ("joint", "bone", "joint_motion", "bone_motion")
MIN_CROP_FRAMES = 64


# ----------------------------------------------------------------------------- valid frames
def valid_length(x: tf.Tensor, num_frames: tf.Tensor | int | None = None) -> tf.Tensor:
  """Number of valid frames: min(num_frames, last frame with any non-zero value + 1), at least 1.

  Records are trimmed by the converter; the zero check makes a zero-padded tail harmless.
  """
  t = tf.shape(x)[1]
  nonzero = tf.reduce_any(tf.not_equal(x, 0.0), axis=[0, 2, 3])  # (T,)
  last = t - tf.cast(tf.argmax(tf.cast(tf.reverse(nonzero, [0]), tf.int32)), tf.int32)
  last = tf.where(tf.reduce_any(nonzero), last, 1)
  if num_frames is not None:
    last = tf.minimum(last, tf.maximum(tf.cast(num_frames, tf.int32), 1))
  return tf.maximum(tf.minimum(last, t), 1)


# ----------------------------------------------------------------------------- crop-resize
def crop_window(valid: tf.Tensor, p: tf.Tensor, u: tf.Tensor,
                min_frames: int = MIN_CROP_FRAMES) -> tuple[tf.Tensor, tf.Tensor]:
  """(start, length) of the training window: length = clip(floor(valid * p), min(64, valid), valid),
  start = floor(u * (valid - length + 1)) with u ~ U[0, 1) (CTR-GCN valid_crop_resize)."""
  valid = tf.cast(valid, tf.int32)
  length = tf.cast(tf.floor(tf.cast(valid, tf.float32) * p), tf.int32)
  length = tf.minimum(tf.maximum(length, tf.minimum(min_frames, valid)), valid)
  length = tf.maximum(length, 1)
  start = tf.cast(tf.floor(u * tf.cast(valid - length + 1, tf.float32)), tf.int32)
  return tf.minimum(start, valid - length), length


def centre_window(valid: tf.Tensor, p: float) -> tuple[tf.Tensor, tf.Tensor]:
  """(start, length) of the test window: bias = int((1 - p) * valid / 2) frames cut at each end."""
  valid = tf.cast(valid, tf.int32)
  bias = tf.cast(tf.floor((1.0 - p) * tf.cast(valid, tf.float32) / 2.0), tf.int32)
  length = tf.maximum(valid - 2 * bias, 1)
  return tf.minimum(bias, valid - 1), length


def resize_window(x: tf.Tensor, start: tf.Tensor, length: tf.Tensor, out_frames: int) -> tf.Tensor:
  """Linear interpolation of x[:, start:start+length] to `out_frames` frames along time.

  Source position of output frame t: (t + 0.5) * length / out_frames - 0.5, clamped to
  [0, length - 1] (half-pixel centres, torch `interpolate(..., align_corners=False)`).
  """
  length_f = tf.cast(length, tf.float32)
  pos = (tf.range(out_frames, dtype=tf.float32) + 0.5) * (length_f / out_frames) - 0.5
  pos = tf.clip_by_value(pos, 0.0, length_f - 1.0)
  i0 = tf.cast(tf.floor(pos), tf.int32)
  i1 = tf.minimum(i0 + 1, length - 1)
  w = (pos - tf.cast(i0, tf.float32))[None, :, None, None]
  a = tf.gather(x, start + i0, axis=1)
  b = tf.gather(x, start + i1, axis=1)
  return a + w * (b - a)


def crop_resize(x: tf.Tensor, valid: tf.Tensor, out_frames: int, p: tf.Tensor, u: tf.Tensor,
                min_frames: int = MIN_CROP_FRAMES) -> tf.Tensor:
  """Training crop-resize with given draws p (window ratio) and u (window position)."""
  start, length = crop_window(valid, p, u, min_frames)
  return resize_window(x, start, length, out_frames)


def centre_crop_resize(x: tf.Tensor, valid: tf.Tensor, out_frames: int, p: float) -> tf.Tensor:
  """Test crop-resize: the centred window with ratio p (data.test_crop_ratio)."""
  start, length = centre_window(valid, p)
  return resize_window(x, start, length, out_frames)


# ----------------------------------------------------------------------------- uniform sampling
def uniform_indices(valid: tf.Tensor, out_frames: int, u: tf.Tensor) -> tf.Tensor:
  """Frame indices of uniform segment sampling with draws u (out_frames,) in [0, 1).

  valid >= T: segment i is [floor(i*valid/T), floor((i+1)*valid/T)), frame = start + floor(u_i*size)
  (pyskl). valid < T: frame floor((i + u_i) * valid / T), each frame repeated in order.
  """
  n = tf.cast(valid, tf.int32)
  i = tf.range(out_frames, dtype=tf.int32)
  begin = (i * n) // out_frames
  size = ((i + 1) * n) // out_frames - begin
  long_idx = begin + tf.cast(tf.floor(u * tf.cast(size, tf.float32)), tf.int32)
  short_idx = tf.cast(tf.floor((tf.cast(i, tf.float32) + u) * tf.cast(n, tf.float32) / out_frames),
                      tf.int32)
  idx = tf.where(n >= out_frames, long_idx, short_idx)
  return tf.clip_by_value(idx, 0, n - 1)


def uniform_sample(x: tf.Tensor, valid: tf.Tensor, out_frames: int, u: tf.Tensor) -> tf.Tensor:
  return tf.gather(x, uniform_indices(valid, out_frames, u), axis=1)


# ----------------------------------------------------------------------------- geometry
def rotation_matrix(angles: tf.Tensor) -> tf.Tensor:
  """R = Rz(az) Ry(ay) Rx(ax) for angles (ax, ay, az) in radians (right-handed, column vectors)."""
  angles = tf.convert_to_tensor(angles, tf.float32)
  c, s = tf.cos(angles), tf.sin(angles)
  one, zero = tf.ones([], tf.float32), tf.zeros([], tf.float32)
  rx = tf.stack([[one, zero, zero], [zero, c[0], -s[0]], [zero, s[0], c[0]]])
  ry = tf.stack([[c[1], zero, s[1]], [zero, one, zero], [-s[1], zero, c[1]]])
  rz = tf.stack([[c[2], -s[2], zero], [s[2], c[2], zero], [zero, zero, one]])
  return rz @ ry @ rx


def rotate(x: tf.Tensor, angles: tf.Tensor, coord_dims: int = 3) -> tf.Tensor:
  """Rotates the coordinate channels by R(angles); 2D data uses only the z angle (in-plane)."""
  if coord_dims == 3:
    r = rotation_matrix(angles)
  elif coord_dims == 2:
    r = rotation_matrix(tf.stack([0.0, 0.0, tf.convert_to_tensor(angles, tf.float32)[2]]))[:2, :2]
  else:
    raise ValueError(f"rotation needs 2 or 3 coordinate channels, got {coord_dims}")
  coords = tf.einsum("mtvc,kc->mtvk", x[..., :coord_dims], r)
  return tf.concat([coords, x[..., coord_dims:]], axis=-1)


def view_rotate(x: tf.Tensor, angles: tf.Tensor) -> tf.Tensor:
  """CTR-GCN's NW-UCLA view transform on 3D coordinates: R = Rx(ax) Ry(ay); angles[2] unused."""
  angles = tf.convert_to_tensor(angles, tf.float32)
  zero = tf.zeros([], tf.float32)
  r = rotation_matrix(tf.stack([angles[0], zero, zero])) @ rotation_matrix(tf.stack([zero, angles[1], zero]))
  coords = tf.einsum("mtvc,kc->mtvk", x[..., :3], r)
  return tf.concat([coords, x[..., 3:]], axis=-1)


def minmax(x: tf.Tensor, coord_dims: int = 3) -> tf.Tensor:
  """Each coordinate axis to [-1, 1] by its min and max over the present (not all-zero)
  actor-frames of the sequence; absent ones stay zero, further channels pass through."""
  present = tf.reduce_any(tf.not_equal(x, 0.0), axis=[2, 3], keepdims=True)  # (M, T, 1, 1)
  c = x[..., :coord_dims]
  lo = tf.reduce_min(tf.where(present, c, tf.float32.max), axis=[0, 1, 2])
  hi = tf.reduce_max(tf.where(present, c, tf.float32.min), axis=[0, 1, 2])
  y = (c - lo) / tf.maximum(hi - lo, 1e-6) * 2.0 - 1.0
  return tf.concat([tf.where(present, y, tf.zeros_like(y)), x[..., coord_dims:]], axis=-1)


def scale(x: tf.Tensor, factor: tf.Tensor, coord_dims: int = 3) -> tf.Tensor:
  """Multiplies the coordinate channels by `factor` (NW-UCLA random scale)."""
  return tf.concat([x[..., :coord_dims] * factor, x[..., coord_dims:]], axis=-1)


# ----------------------------------------------------------------------------- streams
def bone_parents(bone_pairs: Sequence[Sequence[int]], num_joints: int) -> np.ndarray:
  """0-based parent index per joint from 1-based (v1, v2) pairs; joints without a pair point at
  themselves (zero bone)."""
  parents = np.arange(num_joints, dtype=np.int32)
  for v1, v2 in bone_pairs:
    if not (1 <= v1 <= num_joints and 1 <= v2 <= num_joints):
      raise ValueError(f"bone pair ({v1}, {v2}) is outside joints 1..{num_joints}")
    parents[v1 - 1] = v2 - 1
  return parents


def _pair_diff(a: tf.Tensor, b: tf.Tensor, coord_dims: int) -> tf.Tensor:
  """a - b on coordinates; the mean of the two on any further (score) channel."""
  if a.shape[-1] is not None and a.shape[-1] == coord_dims:
    return a - b
  return tf.concat([a[..., :coord_dims] - b[..., :coord_dims],
                    0.5 * (a[..., coord_dims:] + b[..., coord_dims:])], axis=-1)


def bone(x: tf.Tensor, parents: np.ndarray, coord_dims: int = 3) -> tf.Tensor:
  """bone[v1] = joint[v1] - joint[v2] (one vectorised gather over the parent table)."""
  return _pair_diff(x, tf.gather(x, parents, axis=2), coord_dims)


def motion(x: tf.Tensor, coord_dims: int = 3) -> tf.Tensor:
  """x[t+1] - x[t] along time, last frame 0."""
  d = _pair_diff(x[:, 1:], x[:, :-1], coord_dims)
  return tf.concat([d, tf.zeros_like(x[:, :1])], axis=1)


def to_stream(x: tf.Tensor, stream: str, parents: np.ndarray | None,
              coord_dims: int = 3) -> tf.Tensor:
  """joint | bone | joint_motion | bone_motion (data.stream)."""
  if stream == "joint":
    return x
  if stream == "joint_motion":
    return motion(x, coord_dims)
  if stream in ("bone", "bone_motion"):
    if parents is None:
      raise ValueError(f"data.stream={stream!r} needs bone_pairs in dataset_info.json")
    b = bone(x, parents, coord_dims)
    return b if stream == "bone" else motion(b, coord_dims)
  raise ValueError(f"data.stream={stream!r} is not one of {', '.join(STREAMS)}")


# ----------------------------------------------------------------------------- draws
def train_draws(key: tf.Tensor, num_frames: int, crop_ratio: Sequence[float], rotation: float,
                scale_range: float) -> dict[str, tf.Tensor]:
  """All random numbers of one training sample from a stateless key (shape (2,) int64)."""
  keys = tf.random.experimental.stateless_split(key, num=5)
  lo, hi = (float(crop_ratio[0]), float(crop_ratio[-1]))
  return {
      "p": tf.random.stateless_uniform([], keys[0], minval=lo, maxval=hi),
      "u": tf.random.stateless_uniform([], keys[1]),
      "u_frames": tf.random.stateless_uniform([num_frames], keys[2]),
      "angles": tf.random.stateless_uniform([3], keys[3], minval=-rotation, maxval=rotation),
      "scale": tf.random.stateless_uniform([], keys[4], minval=1.0 - scale_range,
                                           maxval=1.0 + scale_range),
  }
