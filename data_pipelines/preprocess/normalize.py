"""Skeleton normalisation applied inside tf.data (records hold raw coordinates, design.md).

All functions take one sample `x` float32 (M, T, V, C) as a TF tensor and return the same shape.
Only the first `coord_dims` channels are coordinates (3 for 3D data, 2 for 2D (x, y, score) data);
further channels (the 2D score) pass through unchanged.

Modes (datasets.md, "Standard preprocessing"):
- `ctrgcn`: SGN / CTR-GCN `seq_transformation` centring: subtract joint 2 (spine mid) of actor 1 in
  its first non-zero frame from every frame of both actors; actor-frames that were all zero
  (missing actor, zero-padded tail) stay zero.
- `pyskl`: pyskl `PreNormalize3D`: centre on joint 2 of actor 1's first non-zero frame (frame 0
  of a trimmed record), zero joints that were missing, rotate so the spine (joint 1 -> 2) points
  along +z, then rotate so the shoulders (joint 9 -> 5) point along +x. Unlike pyskl, frames in
  which actor 1 is missing are kept (records are already trimmed by the converter).
- `nwucla`: CTR-GCN NW-UCLA recipe: centre on joint 2 of frame 0 (the first non-zero frame of
  actor 1); the recipe's random scale is applied at train time by `augment.scale` (data.scale).
- `none`: identity.
"""
from __future__ import annotations

import tensorflow as tf

MODES = ("ctrgcn", "pyskl", "nwucla", "none")

# 0-based joint indices of the NTU / Kinect-v2 layout used by the recipes.
_SPINE_BASE, _SPINE_MID = 0, 1
_L_SHOULDER, _R_SHOULDER = 4, 8


def first_nonzero_frame(x: tf.Tensor) -> tf.Tensor:
  """Index of actor 1's first frame with any non-zero coordinate (0 when it has none)."""
  present = tf.reduce_any(tf.not_equal(x[0], 0.0), axis=[1, 2])  # (T,)
  return tf.cast(tf.argmax(tf.cast(present, tf.int32)), tf.int32)


def _origin(x: tf.Tensor, coord_dims: int) -> tf.Tensor:
  """Joint 2 (spine mid) of actor 1 in its first non-zero frame, padded with zeros to C."""
  o = x[0, first_nonzero_frame(x), _SPINE_MID, :coord_dims]
  return tf.concat([o, tf.zeros([tf.shape(x)[-1] - coord_dims], x.dtype)], axis=0)


def centre_actor_frames(x: tf.Tensor, coord_dims: int = 3) -> tf.Tensor:
  """CTR-GCN centring: subtract the origin, then re-zero actor-frames that were all zero."""
  present = tf.reduce_any(tf.not_equal(x, 0.0), axis=[2, 3], keepdims=True)  # (M, T, 1, 1)
  return tf.where(present, x - _origin(x, coord_dims), tf.zeros_like(x))


def _rotation_to(v: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
  """Rotation matrix turning direction `v` onto `target` (Rodrigues about v x target).

  Identity when v is (anti)parallel to target or zero: the axis is then undefined, which is what
  pyskl's `rotation_matrix` does too.
  """
  axis = tf.linalg.cross(v, target)
  axis_norm = tf.norm(axis)
  v_norm = tf.norm(v)
  cos = tf.reduce_sum(v * target) / tf.maximum(v_norm * tf.norm(target), 1e-12)
  angle = tf.acos(tf.clip_by_value(cos, -1.0, 1.0))
  k = axis / tf.maximum(axis_norm, 1e-12)
  kx = tf.stack([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
  rot = tf.eye(3) + tf.sin(angle) * kx + (1.0 - tf.cos(angle)) * tf.matmul(kx, kx)
  degenerate = tf.logical_or(axis_norm < 1e-6, tf.abs(angle) < 1e-6)
  return tf.where(degenerate, tf.eye(3), rot)


def pyskl_prenormalize(x: tf.Tensor) -> tf.Tensor:
  """pyskl PreNormalize3D (3D only): centre, zero missing joints, spine to +z, shoulders to +x."""
  f0 = first_nonzero_frame(x)
  present = tf.reduce_any(tf.not_equal(x, 0.0), axis=-1, keepdims=True)  # per joint, as pyskl
  y = tf.where(present, x - x[0, f0, _SPINE_MID], tf.zeros_like(x))
  spine = y[0, f0, _SPINE_MID] - y[0, f0, _SPINE_BASE]
  rz = _rotation_to(spine, tf.constant([0.0, 0.0, 1.0]))
  y = tf.einsum("mtvc,kc->mtvk", y, rz)
  shoulders = y[0, f0, _R_SHOULDER] - y[0, f0, _L_SHOULDER]
  rx = _rotation_to(shoulders, tf.constant([1.0, 0.0, 0.0]))
  y = tf.einsum("mtvc,kc->mtvk", y, rx)
  # An all-zero sample is returned unchanged (pyskl skips it).
  return tf.where(tf.reduce_any(tf.not_equal(x, 0.0)), y, x)


def normalize(x: tf.Tensor, mode: str, *, coord_dims: int = 3) -> tf.Tensor:
  """Applies normalisation `mode` (data.normalize) to one sample (M, T, V, C)."""
  if mode == "none":
    return x
  if mode in ("ctrgcn", "nwucla"):
    # Both recipes centre on joint 2 of actor 1's first present frame; NW-UCLA is single-actor so
    # its "frame 0" is that frame, and keeping missing frames at zero is harmless there.
    return centre_actor_frames(x, coord_dims)
  if mode == "pyskl":
    if coord_dims != 3:
      raise ValueError("data.normalize='pyskl' (PreNormalize3D) needs 3D coordinates; use 'none' "
                       "or 'ctrgcn' for 2D (x, y, score) data")
    c = x.shape[-1]
    if c is not None and c > 3:
      return tf.concat([pyskl_prenormalize(x[..., :3]), x[..., 3:]], axis=-1)
    return pyskl_prenormalize(x)
  raise ValueError(f"data.normalize={mode!r} is not one of {', '.join(MODES)}")
