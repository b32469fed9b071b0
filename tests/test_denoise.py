"""SGN / CTR-GCN denoising and actor selection on hand-constructed bodies (datasets.md)."""
import numpy as np

from data_pipelines.formats.ntu import Body, NtuSkeleton
from data_pipelines.preprocess import denoise


def standing(frames, motion=0.0, seed=0, noisy=()):
  """A body over `frames`: tall in y (never spread-noisy) unless a frame is listed in `noisy`."""
  rng = np.random.default_rng(seed)
  frames = np.asarray(frames, np.int64)
  joints = np.zeros((len(frames), 25, 3), np.float32)
  joints[:, :, 1] = np.linspace(-0.9, 0.7, 25)  # y extent 1.6
  joints[:, :, 0] = np.linspace(-0.2, 0.2, 25)  # x extent 0.4
  joints[:, :, 2] = 3.0
  joints += (motion * rng.normal(size=joints.shape)).astype(np.float32)
  for i, f in enumerate(frames):
    if f in noisy:
      joints[i, :, 0] = np.linspace(-1.0, 1.0, 25)  # x extent 2.0 > 0.8 * 1.6
  return Body(int(seed) + 10**16, frames, joints)


def test_single_body_is_kept_even_when_short():
  b = standing(range(5))
  out = denoise.denoise_ntu(NtuSkeleton(5, 5, [b]))
  np.testing.assert_array_equal(out, b.joints[None])


def test_body_living_11_frames_is_dropped_12_kept():
  a = standing(range(40), motion=0.01, seed=1)
  short = standing(range(5, 16), motion=0.5, seed=2)  # 11 frames, large motion
  assert len(short.frames) == denoise.LENGTH_THRESHOLD
  assert denoise.denoise_bodies([a, short]) == [a]
  longer = standing(range(5, 17), motion=0.5, seed=3)  # 12 frames
  assert denoise.denoise_bodies([a, longer]) == [longer, a]  # sorted by motion


def test_spread_rule_threshold():
  a = standing(range(20), motion=0.01, seed=1)
  n14 = standing(range(20), motion=0.05, seed=2, noisy=range(14))  # 14/20 = 0.70 >= 0.69754
  n13 = standing(range(20), motion=0.05, seed=3, noisy=range(13))  # 13/20 = 0.65
  assert denoise.spread_noisy_frames(n14.joints).sum() == 14
  assert denoise.denoise_bodies([a, n14]) == [a]
  kept = denoise.denoise_bodies([a, n13])
  assert set(map(id, kept)) == {id(a), id(n13)}


def test_spread_motion_is_recomputed_on_clean_frames():
  # n13's noisy frames inflate its motion; on its 7 clean frames it moves less than `a`.
  a = standing(range(20), motion=0.02, seed=1)
  n13 = standing(range(20), motion=0.001, seed=3, noisy=range(13))
  assert denoise.motion(n13.joints) > denoise.motion(a.joints)
  assert denoise.motion(n13.joints[13:]) < denoise.motion(a.joints)
  assert denoise.denoise_bodies([n13, a]) == [a, n13]


def test_spread_rule_never_removes_the_last_body():
  first = standing(range(20), seed=1, noisy=range(20))
  second = standing(range(20), seed=2, noisy=range(20))
  assert denoise.denoise_bodies([first, second]) == [second]


def test_non_overlapping_body_merges_into_actor_1_and_overlapping_goes_to_actor_2():
  a = standing(range(0, 30), motion=0.3, seed=1)
  later = standing(range(30, 50), motion=0.1, seed=2)  # after actor 1: merged into it
  other = standing(range(10, 50), motion=0.05, seed=3)  # overlaps: actor 2
  out = denoise.denoise_ntu(NtuSkeleton(50, 50, [later, other, a]))
  assert out.shape == (2, 50, 25, 3)
  np.testing.assert_array_equal(out[0, :30], a.joints)
  np.testing.assert_array_equal(out[0, 30:], later.joints)
  np.testing.assert_array_equal(out[1, 10:], other.joints)
  np.testing.assert_array_equal(out[1, :10], 0)


def test_touching_intervals_count_as_not_overlapping():
  # The reference tests min(end) - max(start) <= 0, so sharing one frame is "no overlap".
  a = standing(range(0, 20), motion=0.3, seed=1)
  b = standing(range(19, 40), motion=0.1, seed=2)
  out = denoise.denoise_ntu(NtuSkeleton(40, 40, [a, b]))
  assert out.shape == (1, 40, 25, 3)
  np.testing.assert_array_equal(out[0, 19:], b.joints)  # the later body overwrites frame 19
  np.testing.assert_array_equal(out[0, :19], a.joints[:19])


def test_third_overlapping_body_is_dropped():
  a = standing(range(0, 30), motion=0.3, seed=1)
  b = standing(range(0, 30), motion=0.2, seed=2)
  c = standing(range(5, 25), motion=0.1, seed=3)
  out = denoise.denoise_ntu(NtuSkeleton(30, 30, [c, b, a]))
  assert out.shape == (2, 30, 25, 3)
  np.testing.assert_array_equal(out[0], a.joints)
  np.testing.assert_array_equal(out[1], b.joints)


def test_frames_without_any_actor_are_removed():
  a = standing(range(0, 30), motion=0.3, seed=1)
  noise = standing(range(30, 36), motion=1.0, seed=2)  # dropped by length
  out = denoise.denoise_ntu(NtuSkeleton(36, 36, [a, noise]))
  assert out.shape == (1, 30, 25, 3)
  np.testing.assert_array_equal(out[0], a.joints)


def test_all_short_bodies_keep_the_longest():
  a = standing(range(0, 6), seed=1)
  b = standing(range(0, 8), seed=2)
  assert denoise.denoise_bodies([a, b]) == [b]


def test_kinetics_top_persons_by_score():
  data = np.zeros((5, 2, 18, 3), np.float32)
  data[0, :, :, 2] = [[0.2], [0.9]]  # person 0: weak in frame 0, strong in frame 1
  data[1, :, :, 2] = [[0.5], [0.1]]
  data[2, :, :, 2] = [[0.4], [0.0]]
  data[..., 0] = np.arange(5)[:, None, None]  # x identifies the person
  out = denoise.select_top_persons(data)
  assert out.shape == (2, 2, 18, 3)
  np.testing.assert_array_equal(out[:, 0, 0, 0], [1, 2])
  np.testing.assert_array_equal(out[:, 1, 0, 0], [0, 1])
  single = np.zeros((5, 3, 18, 3), np.float32)
  single[0, :, :, 2] = 1
  assert denoise.select_top_persons(single).shape == (1, 3, 18, 3)
