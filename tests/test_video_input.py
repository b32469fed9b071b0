"""The video pipeline against numpy references: segment sampling, pairing, crops, decode-after-
sampling, RGB / depth alignment, dtypes, determinism, exact resume, and the in-step normalisation."""
import json

import numpy as np
import pytest
import tensorflow as tf

from actionjax import config as config_lib
from data_pipelines import video_augment, video_records
from data_pipelines import input as input_lib
from tiny_video_data import depth_frames, rgb_frames, video_config, write_records


@pytest.fixture(scope="module")
def rgbd_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("rgbd"))
  samples = []
  for i in range(6):
    n_rgb = 20 + i
    n_depth = n_rgb - (i % 3)  # differing counts: the pairing rule decides
    samples.append((f"s{i}", i % 4, rgb_frames(n_rgb, 32, 44), depth_frames(n_depth, 32, 44)))
  samples.append(("short", 1, rgb_frames(5, 32, 44), depth_frames(5, 32, 44)))
  write_records(d, samples)
  return d


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("n", [1, 5, 8, 17, 100])
def test_segment_indices_match_numpy(n):
  T = 8
  rng = np.random.default_rng(n)
  u = rng.random(T).astype(np.float32)
  got = video_augment.segment_indices(tf.constant(n), T, tf.constant(u)).numpy()
  if n >= T:
    want = [int(np.floor((k + float(u[k])) * n / T)) for k in range(T)]
  else:  # loop padding
    want = [k % n for k in range(T)]
  np.testing.assert_array_equal(got, want)
  centre = video_augment.segment_indices(n, T, video_augment.test_positions(T, 0, 1)).numpy()
  if n >= T:
    np.testing.assert_array_equal(centre, [int((k + 0.5) * n / T) for k in range(T)])
  clips = [video_augment.segment_indices(n, T, video_augment.test_positions(T, c, 3)).numpy()
           for c in range(3)]
  if n >= 3 * T:  # N test clips are N different equidistant sets
    assert len({tuple(c) for c in clips}) == 3


def test_paired_indices_match_the_rule():
  for n_from, n_to in [(20, 18), (18, 20), (10, 10), (1, 5)]:
    idx = np.arange(n_from)
    got = video_augment.paired_indices(tf.constant(idx), n_from, n_to).numpy()
    want = [min(n_to - 1, int(np.round(i * (n_to - 1) / max(n_from - 1, 1)))) for i in idx]
    np.testing.assert_array_equal(got, want)


def test_multiscale_box_sizes_and_bounds():
  h, w = 240, 320
  scales = video_augment.TSN_SCALES
  sides = {round(240 * s) for s in scales}
  rng = np.random.default_rng(0)
  seen = set()
  for _ in range(200):
    box = video_augment.multiscale_box(h, w, tf.constant(rng.random(3), tf.float32)).numpy()
    assert np.all(box >= 0) and np.all(box <= 1 + 1e-6)
    ch, cw = round((box[2] - box[0]) * h), round((box[3] - box[1]) * w)
    assert ch in sides and cw in sides
    ratio = np.log2(max(ch, cw) / min(ch, cw))
    assert ratio <= 0.5 + 1e-6  # neighbouring scales only (max_distort = 1)
    seen.add((ch, cw))
  assert len(seen) == 10  # 4 square + 2 x 3 neighbouring pairs


def test_crop_resize_exact_box_is_identity_and_nearest_keeps_values():
  frames = tf.constant(np.stack(depth_frames(3, 30, 40))[..., None])
  box = video_augment.centre_box(30, 40)
  out = video_augment.crop_resize(frames, box, 30, nearest=True).numpy()
  np.testing.assert_array_equal(out, frames.numpy()[:, :, 5:35])
  small = video_augment.crop_resize(frames, box, 13, nearest=True).numpy()
  assert set(np.unique(small)) <= set(np.unique(frames.numpy()))  # no blended depth values


def test_windowed_jpeg_decode_equals_decode_then_crop():
  """decode_crop_resize_jpeg (decodes only the crop window) against decoding whole frames and
  crop_resize: equal up to one level (rounding ties), on random multi-scale boxes."""
  import io
  from PIL import Image
  rng = np.random.default_rng(0)
  y, x = np.mgrid[0:72, 0:128]
  frames = [np.clip(np.stack([x * 2, y * 3, (x + y + 20 * i) % 256], -1)
                    + rng.integers(0, 40, (72, 128, 3)), 0, 255).astype(np.uint8) for i in range(3)]
  encoded = []
  for f in frames:
    buf = io.BytesIO()
    Image.fromarray(f).save(buf, format="JPEG", quality=90)
    encoded.append(buf.getvalue())
  full = tf.stack([tf.io.decode_jpeg(e, dct_method="INTEGER_ACCURATE") for e in encoded])
  for _ in range(20):
    box = video_augment.multiscale_box(72, 128, tf.constant(rng.random(3), tf.float32))
    got = video_augment.decode_crop_resize_jpeg(tf.constant(encoded), box, 40).numpy()
    want = video_augment.crop_resize(full, box, 40, nearest=False).numpy()
    assert np.abs(got.astype(int) - want).max() <= 1


# ----------------------------------------------------------------------------- the pipeline
def _eval_pipe(d, **kw):
  c = video_config(d, **kw)
  return input_lib.make(c, "train", train=False, batch_size=4, process_index=0, process_count=1)


def test_eval_batches_equal_the_stored_frames(rgbd_dir):
  """raw frames -> records -> batch: depth exact (PNG), RGB within JPEG tolerance; indices follow
  the centre segment rule and the pairing rule."""
  pipe = _eval_pipe(rgbd_dir, image_size=32)
  batch = next(iter(pipe))
  assert batch["inputs"].dtype == np.uint16 and batch["inputs"].shape == (4, 8, 32, 32, 4)
  for row in range(4):
    name = batch["name"][row].decode()
    if name == "short":
      continue
    i = int(name[1:])
    n_rgb, n_depth = 20 + i, 20 + i - (i % 3)
    idx = [int((k + 0.5) * n_rgb / 8) for k in range(8)]
    rgb = np.stack(rgb_frames(n_rgb, 32, 44))[idx][:, :, 6:38]
    dep = np.stack(depth_frames(n_depth, 32, 44))
    didx = [int(np.round(j * (n_depth - 1) / (n_rgb - 1))) for j in idx]
    np.testing.assert_array_equal(batch["inputs"][row, ..., 3], dep[didx][:, :, 6:38])
    diff = np.abs(batch["inputs"][row, ..., :3].astype(int) - rgb.astype(int))
    assert diff.max() <= 8, diff.max()  # JPEG q95 on smooth ramps


def test_short_video_is_loop_padded(rgbd_dir):
  pipe = _eval_pipe(rgbd_dir, modalities=("rgb",))
  rows = [(b["name"][i], b["inputs"][i]) for b in pipe for i in range(4) if b["valid"][i]]
  clip = dict(rows)[b"short"]
  assert clip.dtype == np.uint8
  frame_ids = np.round(clip[:, 16, 16, 2].astype(float) / 10).astype(int)
  np.testing.assert_array_equal(frame_ids, [0, 1, 2, 3, 4, 0, 1, 2])


def test_eval_pass_covers_every_sample_once_per_clip(rgbd_dir):
  pipe = input_lib.make(video_config(rgbd_dir, modalities=("depth",)), "train", train=False,
                        batch_size=4, num_clips=2, process_index=0, process_count=1)
  names = [n for b in pipe for n, v in zip(b["name"], b["valid"]) if v]
  assert sorted(names) == sorted(([f"s{i}".encode() for i in range(6)] + [b"short"]) * 2)
  assert len(pipe) == 4  # ceil(7 * 2 / 4)


def test_training_crops_and_flips_align_rgb_and_depth(rgbd_dir):
  c = video_config(rgbd_dir, image_size=24, flip=True)
  pipe = input_lib.make(c, "train", train=True, batch_size=4, process_index=0, process_count=1)
  flipped = 0
  for _ in range(4):
    b = next(pipe)
    x = b["inputs"].astype(np.int64)
    depth_x = x[..., 3] % 1000  # the x ramp
    # Same relative box on both: RGB's R channel and depth's ramp agree (bilinear vs nearest).
    assert np.abs(x[..., 0] - depth_x).max() <= 8  # half a resized pixel of the ramp + JPEG
    flipped += int(np.sum(x[:, 0, 0, 0, 0] > x[:, 0, 0, -1, 0]))
    # Depth frame index follows the pairing rule of the sampled RGB frame.
    for row in range(4):
      name = b["name"][row].decode()
      n_rgb = 5 if name == "short" else 20 + int(name[1:])
      n_depth = 5 if name == "short" else n_rgb - int(name[1:]) % 3
      rgb_idx = np.round(x[row, :, 0, 0, 2] / 10).astype(int)
      want = np.round(rgb_idx * (n_depth - 1) / max(n_rgb - 1, 1)).astype(int)
      np.testing.assert_array_equal(x[row, :, 0, 0, 3] // 1000, want)
      if name != "short":  # one frame per segment, in order
        assert np.all(np.diff(rgb_idx) >= 0)
  assert 0 < flipped < 16  # flips happen, not always


def test_training_is_deterministic_and_resumes_exactly(rgbd_dir):
  c = video_config(rgbd_dir, modalities=("rgb",))
  make = lambda: input_lib.make(c, "train", train=True, batch_size=2, process_index=0, process_count=1)
  a = make()
  straight = [next(a) for _ in range(6)]
  b = make()
  for _ in range(3):
    next(b)
  state = b.get_state()
  r = make()
  r.set_state(json.loads(json.dumps(state)))
  resumed = [next(r) for _ in range(3)]
  for x, y in zip(straight[3:], resumed):
    np.testing.assert_array_equal(x["inputs"], y["inputs"])
    np.testing.assert_array_equal(x["name"], y["name"])
  assert straight[0]["inputs"].dtype == np.uint8
  assert not np.array_equal(straight[0]["inputs"], straight[1]["inputs"])


def test_modalities_not_stored_are_refused(tmp_path):
  d = str(tmp_path)
  write_records(d, [("a", 0, rgb_frames(9, 16, 16), None)], modalities=("rgb",))
  from data_pipelines.errors import DataError
  with pytest.raises(DataError, match="stores only rgb"):
    _eval_pipe(d, modalities=("rgb", "depth"))
  assert video_records.modalities_of("rgbd") == ("rgb", "depth")
  assert video_records.modalities_of(("rgb,depth",)) == ("rgb", "depth")


# ----------------------------------------------------------------------------- normalisation
def test_in_step_normalisation_matches_numpy():
  from actionjax.training import video_inputs
  c = config_lib.base_config()
  c.data.modalities, c.data.depth_max = ("rgb", "depth"), 4500.0
  rng = np.random.default_rng(0)
  x = rng.integers(0, 4500, (2, 3, 4, 4, 4)).astype(np.uint16)
  x[..., :3] %= 256
  got = np.asarray(video_inputs.normalize(x, c.data))
  xf = x.astype(np.float64)
  mean, std = np.array(c.data.rgb_mean), np.array(c.data.rgb_std)
  want = np.concatenate([(xf[..., :3] / 255 - mean) / std, (xf[..., 3:] / 4500 - 0.5) / 0.5], -1)
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  c.data.modalities = ("depth",)
  np.testing.assert_allclose(np.asarray(video_inputs.normalize(x[..., 3:], c.data)), want[..., 3:],
                             rtol=1e-6, atol=1e-6)
