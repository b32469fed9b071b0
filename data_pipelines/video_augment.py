"""Video clip sampling and spatial augmentation, in TF ops for tf.data (one sample at a time).

Random functions take their uniform draws as arguments so that the pipeline derives them statelessly
from (seed, epoch, position) and tests can pass fixed values.

- Segment sampling (TSN, X-STFT Sec. 5.2): n frames cut into T equal segments, one frame per
  segment at relative position u_k in [0, 1): random at training, 0.5 (the centre) at test, and
  (c + 0.5) / N for clip c of N test clips. Videos shorter than T frames are loop-padded
  (0, 1, ..., n-1, 0, 1, ...), as 3D-CNN toolboxes do.
- Multi-scale crop (TSN's GroupMultiScaleCrop): crop height and width are each a scale of the
  short side from `scales` (default {1, 2^-1/4, 2^-3/4, 1/2}), chosen as a pair whose scale indices
  differ by at most `max_distort`; the position is uniform over the frame (TSN draws from 13 fixed
  offsets; uniform covers them and more); then resized to the model size. Test: the centred square
  of the short side, resized to the model size (= resize short side, centre crop).
- Boxes are relative (fractions of the frame), so RGB and depth of one sample get the same crop
  even when their resolutions differ. RGB is resized bilinearly, depth with nearest neighbours
  (blending would smear the zero background into the silhouette).
"""
from __future__ import annotations

import tensorflow as tf

TSN_SCALES = (1.0, 2 ** -0.25, 2 ** -0.75, 0.5)


def segment_indices(num_frames: tf.Tensor, num_segments: int, u: tf.Tensor) -> tf.Tensor:
  """int32 (T,) frame indices: floor((k + u_k) * n / T) for n >= T, else loop padding."""
  n = tf.maximum(tf.cast(num_frames, tf.int32), 1)
  k = tf.range(num_segments, dtype=tf.float64)
  pos = (k + tf.cast(u, tf.float64)) * tf.cast(n, tf.float64) / num_segments
  seg = tf.minimum(tf.cast(tf.floor(pos), tf.int32), n - 1)
  loop = tf.range(num_segments, dtype=tf.int32) % n
  return tf.where(n >= num_segments, seg, loop)


def test_positions(num_segments: int, clip: tf.Tensor, num_clips: int) -> tf.Tensor:
  """u_k of test clip `clip` of `num_clips`: (clip + 0.5) / num_clips for every segment."""
  u = (tf.cast(clip, tf.float32) + 0.5) / float(num_clips)
  return tf.fill([num_segments], u)


def paired_indices(indices: tf.Tensor, n_from: tf.Tensor, n_to: tf.Tensor) -> tf.Tensor:
  """The pairing rule (docs/video_data.md): frame i of an n_from-frame stream pairs with frame
  round(i * (n_to - 1) / (n_from - 1)) of an n_to-frame stream of the same sample."""
  n_from = tf.cast(tf.maximum(n_from, 1), tf.float64)
  n_to = tf.cast(tf.maximum(n_to, 1), tf.int32)
  scale = (tf.cast(n_to, tf.float64) - 1.0) / tf.maximum(n_from - 1.0, 1.0)
  j = tf.cast(tf.round(tf.cast(indices, tf.float64) * scale), tf.int32)
  return tf.clip_by_value(j, 0, n_to - 1)


def multiscale_box(height: tf.Tensor, width: tf.Tensor, draws: tf.Tensor,
                   scales=TSN_SCALES, max_distort: int = 1) -> tf.Tensor:
  """Relative crop box [y0, x0, y1, x1] (pixel-edge fractions) from three uniforms: the scale
  pair, then the vertical and horizontal offsets."""
  pairs = [(i, j) for i in range(len(scales)) for j in range(len(scales)) if abs(i - j) <= max_distort]
  table = tf.constant([[scales[i], scales[j]] for i, j in pairs], tf.float32)  # (h scale, w scale)
  pick = tf.minimum(tf.cast(draws[0] * len(pairs), tf.int32), len(pairs) - 1)
  h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
  short = tf.minimum(h, w)
  ch = tf.minimum(tf.round(short * table[pick, 0]), h)
  cw = tf.minimum(tf.round(short * table[pick, 1]), w)
  y0 = tf.floor(draws[1] * (h - ch + 1))
  x0 = tf.floor(draws[2] * (w - cw + 1))
  y0, x0 = tf.minimum(y0, h - ch), tf.minimum(x0, w - cw)
  return tf.stack([y0 / h, x0 / w, (y0 + ch) / h, (x0 + cw) / w])


def centre_box(height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
  """Relative box of the centred square of the short side."""
  h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
  side = tf.minimum(h, w)
  y0, x0 = tf.floor((h - side) / 2), tf.floor((w - side) / 2)
  return tf.stack([y0 / h, x0 / w, (y0 + side) / h, (x0 + side) / w])


def crop_resize(frames: tf.Tensor, box: tf.Tensor, size: int, *, nearest: bool) -> tf.Tensor:
  """frames (T, H, W, C) -> (T, size, size, C) of the same dtype: the relative box cut out of every
  frame and resized. Output pixel centres sit at even spacing over the box's pixel centres, so a
  box of exactly `size` pixels returns those pixels unchanged."""
  shape = tf.shape(frames)
  t, h, w = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
  # Pixel-edge fractions -> crop_and_resize's pixel-centre convention (y * (H - 1)).
  y0, x0 = box[0] * h, box[1] * w
  y1, x1 = box[2] * h - 1.0, box[3] * w - 1.0
  scale_h, scale_w = tf.maximum(h - 1.0, 1.0), tf.maximum(w - 1.0, 1.0)
  boxes = tf.tile(tf.reshape(tf.stack([y0 / scale_h, x0 / scale_w, y1 / scale_h, x1 / scale_w]),
                             [1, 4]), [t, 1])
  out = tf.image.crop_and_resize(frames, boxes, tf.range(t), [size, size],
                                 method="nearest" if nearest else "bilinear")
  if frames.dtype.is_integer:
    out = tf.clip_by_value(tf.round(out), frames.dtype.min, frames.dtype.max)
  return tf.cast(out, frames.dtype)


def pixel_window(box: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
  """int32 [y0, x0, h, w] in pixels of a relative box drawn on whole pixels (multiscale_box,
  centre_box)."""
  h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
  y0, x0 = tf.round(box[0] * h), tf.round(box[1] * w)
  y1, x1 = tf.round(box[2] * h), tf.round(box[3] * w)
  return tf.cast(tf.stack([y0, x0, y1 - y0, x1 - x0]), tf.int32)


def decode_crop_resize_jpeg(encoded: tf.Tensor, box: tf.Tensor, size: int) -> tf.Tensor:
  """(T,) JPEG strings of equal-size frames -> (T, size, size, 3) uint8: the relative box cut out
  and resized as `crop_resize` does (bilinear, output pixel centres evenly over the box's pixel
  centres; equal up to 1 level where rounding ties), decoding only the box's window.

  libjpeg's cropped decode replicates chroma at the window's left / right edges, so the window is
  decoded one column wider on each side (inside the frame) and those columns dropped: then it is
  bit-identical to decoding whole frames and cropping."""
  shape = tf.io.extract_jpeg_shape(encoded[0])
  height, width = shape[0], shape[1]
  win = pixel_window(box, height, width)
  x0, w = win[1], win[3]
  xs, xe = tf.maximum(x0 - 1, 0), tf.minimum(x0 + w + 1, width)
  window = tf.stack([win[0], xs, win[2], xe - xs])
  decode = lambda s: tf.io.decode_and_crop_jpeg(s, window, channels=3,
                                                dct_method="INTEGER_ACCURATE")
  frames = tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
  frames = frames[:, :, x0 - xs:x0 - xs + w]
  # align_corners: crop_and_resize's grid on the window; values lie in [0, 255], so the cast
  # (truncation) of y + 0.5 rounds them.
  out = tf.raw_ops.ResizeBilinear(images=frames, size=[size, size], align_corners=True)
  return tf.cast(out + 0.5, tf.uint8)


def flip(frames: tf.Tensor, do: tf.Tensor) -> tf.Tensor:
  """Horizontal flip of (T, H, W, C) when `do`. Reversed as (T * H, W, C) rows: the same result,
  ~2.5x faster than tf.reverse on axis 2 of the rank-4 tensor."""
  def mirrored():
    shape = tf.shape(frames)
    rows = tf.reshape(frames, tf.stack([-1, shape[2], shape[3]]))
    return tf.reshape(tf.reverse(rows, axis=[1]), shape)
  return tf.cond(do, mirrored, lambda: frames)
