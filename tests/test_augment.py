"""Temporal sampling, rotation, scale and streams (data_pipelines/augment.py) vs numpy loops."""
import math

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import augment as aug

NTU_PAIRS = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
             (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17),
             (19, 18), (20, 19), (22, 23), (21, 21), (23, 8), (24, 25), (25, 12)]


def _x(t, seed=0, m=2, v=25, c=3):
  return np.random.default_rng(seed).normal(size=(m, t, v, c)).astype(np.float32)


# ----------------------------------------------------------------------------- numpy references
def ref_crop_resize(x, valid, out, p, u, min_frames=64):
  """CTR-GCN valid_crop_resize with given draws; linear resize with half-pixel centres."""
  length = min(max(int(math.floor(valid * p)), min(min_frames, valid)), valid)
  start = int(math.floor(u * (valid - length + 1)))
  return _ref_resize(x.astype(np.float64)[:, start:start + length], out), start, length


def _ref_resize(w, out):
  length = w.shape[1]
  res = np.zeros((w.shape[0], out) + w.shape[2:])
  for t in range(out):
    src = max((t + 0.5) * length / out - 0.5, 0.0)
    i0 = min(int(math.floor(src)), length - 1)
    i1 = min(i0 + 1, length - 1)
    lam = src - i0
    res[:, t] = (1 - lam) * w[:, i0] + lam * w[:, i1]
  return res


def ref_rotation(ax, ay, az):
  """Rz @ Ry @ Rx, each elementary matrix from Rodrigues' formula about a unit axis."""
  def rod(k, a):
    k = np.asarray(k, np.float64)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * kx @ kx
  return rod([0, 0, 1], az) @ rod([0, 1, 0], ay) @ rod([1, 0, 0], ax)


def ref_bone(x, pairs):
  out = np.zeros_like(x, dtype=np.float64)
  for v1, v2 in pairs:
    out[:, :, v1 - 1] = x[:, :, v1 - 1] - x[:, :, v2 - 1]
  return out


def ref_motion(x):
  out = np.zeros_like(x, dtype=np.float64)
  for t in range(x.shape[1] - 1):
    out[:, t] = x[:, t + 1] - x[:, t]
  return out


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("valid,p,u", [(100, 0.5, 0.0), (100, 0.77, 0.999), (300, 0.9, 0.4),
                                       (40, 0.6, 0.3), (64, 1.0, 0.5), (1, 0.5, 0.7)])
def test_crop_resize_matches_numpy(valid, p, u):
  x = _x(valid + 7)
  x[:, valid:] = 0.0
  ref, start, length = ref_crop_resize(x, valid, 64, p, u)
  s, n = aug.crop_window(tf.constant(valid), tf.constant(p), tf.constant(u))
  assert (int(s), int(n)) == (start, length)
  got = aug.crop_resize(tf.constant(x), tf.constant(valid), 64, tf.constant(p), tf.constant(u))
  assert got.shape == (2, 64, 25, 3)
  np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)


def test_crop_window_bounds_over_many_draws():
  rng = np.random.default_rng(1)
  for _ in range(200):
    valid = int(rng.integers(1, 400))
    p, u = rng.uniform(0.5, 1.0), rng.uniform(0, 1)
    s, n = (int(v) for v in aug.crop_window(tf.constant(valid), tf.constant(p), tf.constant(u)))
    assert min(64, valid) <= n <= valid and 0 <= s <= valid - n


def test_centre_crop_matches_numpy():
  valid, p = 123, 0.95
  x = _x(valid)
  bias = int((1 - p) * valid / 2)
  ref = _ref_resize(x.astype(np.float64)[:, bias:valid - bias], 128)
  got = aug.centre_crop_resize(tf.constant(x), tf.constant(valid), 128, p).numpy()
  np.testing.assert_allclose(got, ref, atol=1e-5)


def test_resize_identity_when_lengths_match():
  x = _x(64)
  got = aug.resize_window(tf.constant(x), tf.constant(0), tf.constant(64), 64).numpy()
  np.testing.assert_allclose(got, x, atol=1e-6)


@pytest.mark.parametrize("n,t", [(100, 64), (64, 64), (90, 64), (500, 32), (20, 64), (1, 16)])
def test_uniform_indices(n, t):
  rng = np.random.default_rng(n + t)
  u = rng.uniform(0, 1, size=t).astype(np.float32)
  got = aug.uniform_indices(tf.constant(n), t, tf.constant(u)).numpy()
  assert got.shape == (t,) and got.min() >= 0 and got.max() <= n - 1
  assert np.all(np.diff(got) >= 0)
  if n >= t:
    for i in range(t):  # one frame inside each segment [i*n//t, (i+1)*n//t)
      lo, hi = i * n // t, (i + 1) * n // t
      assert lo <= got[i] < hi
      assert got[i] == lo + int(np.floor(np.float64(u[i]) * (hi - lo)))
    assert len(set(got.tolist())) == t
  else:
    ref = np.floor((np.arange(t) + u.astype(np.float64)) * n / t).astype(int)
    np.testing.assert_array_equal(got, np.clip(ref, 0, n - 1))
    assert set(got.tolist()) == set(range(n))  # every frame used when T > n
  seg0 = aug.uniform_indices(tf.constant(n), t, tf.zeros([t])).numpy()
  if n >= t:
    np.testing.assert_array_equal(seg0, np.arange(t) * n // t)
  x = _x(n)
  np.testing.assert_array_equal(aug.uniform_sample(tf.constant(x), tf.constant(n), t,
                                                   tf.constant(u)).numpy(), x[:, got])


def test_rotation_matrix_orthonormal_and_matches_numpy():
  rng = np.random.default_rng(2)
  for _ in range(10):
    a = rng.uniform(-0.3, 0.3, size=3)
    r = aug.rotation_matrix(tf.constant(a, tf.float32)).numpy().astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-6)
    np.testing.assert_allclose(r, ref_rotation(*a), atol=1e-6)
  x = _x(10)
  a = np.array([0.1, -0.25, 0.3])
  got = aug.rotate(tf.constant(x), tf.constant(a, tf.float32)).numpy()
  ref = np.einsum("mtvc,kc->mtvk", x.astype(np.float64), ref_rotation(*a))
  np.testing.assert_allclose(got, ref, atol=1e-5)
  z = np.zeros_like(x)
  assert np.all(aug.rotate(tf.constant(z), tf.constant(a, tf.float32)).numpy() == 0)


def test_rotation_2d_in_plane_keeps_score():
  x = _x(10)
  a = np.array([0.2, 0.2, 0.3])
  got = aug.rotate(tf.constant(x), tf.constant(a, tf.float32), coord_dims=2).numpy()
  c, s = np.cos(0.3), np.sin(0.3)
  ref_xy = np.einsum("mtvc,kc->mtvk", x[..., :2].astype(np.float64), np.array([[c, -s], [s, c]]))
  np.testing.assert_allclose(got[..., :2], ref_xy, atol=1e-5)
  np.testing.assert_array_equal(got[..., 2], x[..., 2])


def test_scale():
  x = _x(5)
  got = aug.scale(tf.constant(x), tf.constant(1.3), coord_dims=2).numpy()
  np.testing.assert_allclose(got[..., :2], x[..., :2] * 1.3, rtol=1e-6)
  np.testing.assert_array_equal(got[..., 2], x[..., 2])


def ctrgcn_ucla_view(value, agx_deg, agy_deg, s):
  """CTR-GCN feeder_ucla's rand_view_transform, row vectors times Ry Rx S (float64)."""
  ax, ay = math.radians(agx_deg), math.radians(agy_deg)
  rx = np.array([[1, 0, 0], [0, math.cos(ax), math.sin(ax)], [0, -math.sin(ax), math.cos(ax)]])
  ry = np.array([[math.cos(ay), 0, -math.sin(ay)], [0, 1, 0], [math.sin(ay), 0, math.cos(ay)]])
  return (value.reshape(-1, 3) @ (ry @ rx @ (s * np.eye(3)))).reshape(value.shape)


def ctrgcn_ucla_minmax(value):
  flat = value.reshape(-1, 3)
  flat = (flat - flat.min(0)) / (flat.max(0) - flat.min(0)) * 2 - 1
  return flat.reshape(value.shape)


def test_view_rotation_scale_and_minmax_match_ctrgcn_ucla_feeder():
  x = _x(9, m=1, v=20) + 0.5
  for agx, agy, s in [(-60, 17, 0.5), (33, -60, 1.5), (0, 0, 1.0)]:
    got = aug.scale(tf.constant(x), tf.constant(s, tf.float32))
    got = aug.view_rotate(got, tf.constant([math.radians(agx), math.radians(agy), 0.7], tf.float32))
    ref = ctrgcn_ucla_view(x[0].astype(np.float64), agx, agy, s)
    np.testing.assert_allclose(got.numpy()[0], ref, atol=1e-5)
    np.testing.assert_allclose(aug.minmax(got).numpy()[0], ctrgcn_ucla_minmax(ref), atol=1e-5)
    # Min-max cancels the isotropic scale, as in the recipe.
    unscaled = ctrgcn_ucla_minmax(ctrgcn_ucla_view(x[0].astype(np.float64), agx, agy, 1.0))
    np.testing.assert_allclose(aug.minmax(got).numpy()[0], unscaled, atol=1e-5)


def test_minmax_ignores_absent_actor_frames_and_keeps_scores():
  x = _x(6, m=2, v=4, c=4)
  x[1] = 0.0          # second actor absent
  x[0, 4:] = 0.0      # zero-padded tail
  got = aug.minmax(tf.constant(x), coord_dims=3).numpy()
  present = x[0, :4, :, :3].reshape(-1, 3).astype(np.float64)
  lo, hi = present.min(0), present.max(0)
  np.testing.assert_allclose(got[0, :4, :, :3], (x[0, :4, :, :3] - lo) / (hi - lo) * 2 - 1, atol=1e-5)
  assert np.all(got[1] == 0) and np.all(got[0, 4:] == 0)
  np.testing.assert_array_equal(got[0, :4, :, 3], x[0, :4, :, 3])


def test_streams_match_numpy_loops():
  x = _x(12)
  parents = aug.bone_parents(NTU_PAIRS, 25)
  xt = tf.constant(x)
  x64 = x.astype(np.float64)
  np.testing.assert_array_equal(aug.to_stream(xt, "joint", parents).numpy(), x)
  bone = aug.to_stream(xt, "bone", parents).numpy()
  np.testing.assert_allclose(bone, ref_bone(x64, NTU_PAIRS), atol=1e-6)
  assert np.all(bone[:, :, 20] == 0)  # joint 21's (21, 21) bone
  np.testing.assert_allclose(aug.to_stream(xt, "joint_motion", parents).numpy(), ref_motion(x64),
                             atol=1e-6)
  np.testing.assert_allclose(aug.to_stream(xt, "bone_motion", parents).numpy(),
                             ref_motion(ref_bone(x64, NTU_PAIRS)), atol=1e-6)
  assert np.all(aug.to_stream(xt, "joint_motion", parents).numpy()[:, -1] == 0)


def test_streams_2d_average_scores():
  x = _x(6, v=18)
  pairs = [(1, 2), (3, 2), (18, 17)]
  parents = aug.bone_parents(pairs, 18)
  bone = aug.bone(tf.constant(x), parents, coord_dims=2).numpy()
  for v1, v2 in pairs:
    np.testing.assert_allclose(bone[:, :, v1 - 1, :2], x[:, :, v1 - 1, :2] - x[:, :, v2 - 1, :2],
                               atol=1e-6)
    np.testing.assert_allclose(bone[:, :, v1 - 1, 2], (x[:, :, v1 - 1, 2] + x[:, :, v2 - 1, 2]) / 2,
                               atol=1e-6)
  mot = aug.motion(tf.constant(x), coord_dims=2).numpy()
  np.testing.assert_allclose(mot[:, :-1, :, :2], x[:, 1:, :, :2] - x[:, :-1, :, :2], atol=1e-6)
  np.testing.assert_allclose(mot[:, :-1, :, 2], (x[:, 1:, :, 2] + x[:, :-1, :, 2]) / 2, atol=1e-6)
  with pytest.raises(ValueError):
    aug.bone_parents([(0, 1)], 18)


def test_valid_length():
  x = _x(30)
  x[:, 21:] = 0.0
  assert int(aug.valid_length(tf.constant(x))) == 21
  assert int(aug.valid_length(tf.constant(x), 15)) == 15
  assert int(aug.valid_length(tf.constant(x), 40)) == 21
  assert int(aug.valid_length(tf.zeros([2, 5, 25, 3]))) == 1


def test_train_draws_ranges_and_determinism():
  key = tf.constant([3, 4], tf.int64)
  a = aug.train_draws(key, 64, (0.5, 1.0), 0.3, 0.5)
  b = aug.train_draws(key, 64, (0.5, 1.0), 0.3, 0.5)
  c = aug.train_draws(tf.constant([3, 5], tf.int64), 64, (0.5, 1.0), 0.3, 0.5)
  for k in a:
    np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
    assert not np.array_equal(a[k].numpy(), c[k].numpy())
  assert 0.5 <= float(a["p"]) <= 1.0 and 0 <= float(a["u"]) < 1
  assert np.all(np.abs(a["angles"].numpy()) <= 0.3) and 0.5 <= float(a["scale"]) <= 1.5
  assert a["u_frames"].shape == (64,)
