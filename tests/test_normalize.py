"""Normalisation modes (data_pipelines/preprocess/normalize.py) vs numpy float64 references."""
import numpy as np
import pytest
import tensorflow as tf

from data_pipelines.preprocess import normalize as nl


def _skeleton(seed=0, m=2, t=20, v=25, c=3):
  """Raw skeleton with a missing start for actor 1, gaps for actor 2 and a zero-padded tail."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(m, t, v, c)) + np.array([0.3, -0.2, 3.0])[:c]
  x[0, :2] = 0.0         # actor 1 appears at frame 2
  if m > 1:
    x[1, 5:9] = 0.0      # actor 2 missing for a while
  x[:, -3:] = 0.0        # zero-padded tail
  return x.astype(np.float32)


def ref_ctrgcn(x):
  """SGN / CTR-GCN seq_transformation centring, frame by frame in float64."""
  x = x.astype(np.float64)
  f0 = next(f for f in range(x.shape[1]) if np.any(x[0, f] != 0))
  origin = x[0, f0, 1].copy()
  out = np.zeros_like(x)
  for m in range(x.shape[0]):
    for f in range(x.shape[1]):
      if np.any(x[m, f] != 0):
        out[m, f] = x[m, f] - origin
  return out


def _euler_rodrigues(axis, theta):
  """Rotation by theta about axis via the Euler-Rodrigues (quaternion) formula."""
  if np.linalg.norm(axis) < 1e-6 or abs(theta) < 1e-6:
    return np.eye(3)
  axis = axis / np.linalg.norm(axis)
  a = np.cos(theta / 2)
  b, c, d = axis * np.sin(theta / 2)
  return np.array([
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c]])


def _angle(u, v):
  return np.arccos(np.clip(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)), -1, 1))


def ref_pyskl(x):
  """pyskl PreNormalize3D in float64 (first present frame of actor 1 as frame 0)."""
  x = x.astype(np.float64)
  f0 = next(f for f in range(x.shape[1]) if np.any(x[0, f] != 0))
  mask = np.any(x != 0, axis=-1, keepdims=True)
  y = (x - x[0, f0, 1]) * mask
  for a, b, target in ((0, 1, np.array([0.0, 0, 1])), (4, 8, np.array([1.0, 0, 0]))):
    v = y[0, f0, b] - y[0, f0, a]
    r = _euler_rodrigues(np.cross(v, target), _angle(v, target))
    y = np.einsum("mtvc,kc->mtvk", y, r)
  return y


def test_ctrgcn_matches_reference_and_keeps_missing_frames_zero():
  x = _skeleton()
  got = nl.normalize(tf.constant(x), "ctrgcn").numpy()
  ref = ref_ctrgcn(x)
  np.testing.assert_allclose(got, ref, atol=1e-5)
  assert np.all(got[1, 5:9] == 0) and np.all(got[:, -3:] == 0) and np.all(got[0, :2] == 0)
  np.testing.assert_allclose(got[0, 2, 1], 0.0, atol=1e-6)  # origin: joint 2, first present frame
  assert not np.allclose(got[1, 0], x[1, 0])  # actor 2 shifted by actor 1's origin


def test_nwucla_centres_on_joint2_of_first_frame():
  x = _skeleton(1, m=1, t=12, v=20)
  x[:, :2] = np.random.default_rng(5).normal(size=(1, 2, 20, 3))  # present from frame 0
  got = nl.normalize(tf.constant(x), "nwucla").numpy()
  ref = x.astype(np.float64) - x[0, 0, 1].astype(np.float64)
  ref[:, -3:] = 0.0
  np.testing.assert_allclose(got, ref, atol=1e-5)


def test_pyskl_matches_reference_and_aligns_axes():
  x = _skeleton(2)
  got = nl.normalize(tf.constant(x), "pyskl").numpy()
  np.testing.assert_allclose(got, ref_pyskl(x), atol=1e-4)
  shoulders = got[0, 2, 8] - got[0, 2, 4]
  np.testing.assert_allclose(shoulders[1:], 0.0, atol=1e-5)
  assert shoulders[0] > 0
  assert np.all(got[:, -3:] == 0)


def test_pyskl_spine_to_z_when_shoulders_are_perpendicular():
  rng = np.random.default_rng(3)
  # Build a frame whose spine and shoulder line are perpendicular, in a random orientation.
  q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  x = rng.normal(size=(1, 4, 25, 3)) * 0.1
  x[0, :, 0] = q @ np.array([0, 0, 0.0]) + 1.0
  x[0, :, 1] = q @ np.array([0, 0, 0.5]) + 1.0
  x[0, :, 4] = q @ np.array([-0.2, 0, 0.4]) + 1.0
  x[0, :, 8] = q @ np.array([0.2, 0, 0.4]) + 1.0
  got = nl.normalize(tf.constant(x.astype(np.float32)), "pyskl").numpy()
  spine = got[0, 0, 1] - got[0, 0, 0]
  np.testing.assert_allclose(spine / np.linalg.norm(spine), [0, 0, 1], atol=1e-5)
  np.testing.assert_allclose(got[0, 0, 1], 0.0, atol=1e-6)


def test_pyskl_all_zero_and_none_are_identity():
  z = np.zeros((2, 5, 25, 3), np.float32)
  assert np.all(nl.normalize(tf.constant(z), "pyskl").numpy() == 0)
  x = _skeleton(4)
  np.testing.assert_array_equal(nl.normalize(tf.constant(x), "none").numpy(), x)


def test_2d_centring_leaves_score_alone():
  x = _skeleton(6, c=3)
  x[..., 2] = np.abs(x[..., 2])  # scores
  got = nl.normalize(tf.constant(x), "ctrgcn", coord_dims=2).numpy()
  ref = ref_ctrgcn(x)
  ref_xy = ref[..., :2]
  np.testing.assert_allclose(got[..., :2], ref_xy, atol=1e-5)
  np.testing.assert_array_equal(got[..., 2], x[..., 2])
  with pytest.raises(ValueError):
    nl.normalize(tf.constant(x), "pyskl", coord_dims=2)
  with pytest.raises(ValueError):
    nl.normalize(tf.constant(x), "bogus")
