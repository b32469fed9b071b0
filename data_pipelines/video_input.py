"""tf.data pipeline for prepared video records -> per-process uint8 / uint16 batches.

Per sample: parse the SequenceExample (frames still encoded), choose T frame indices by segment
sampling (data_pipelines/video_augment.py), decode only those frames, crop (multi-scale at
training, centred at test) and resize to `data.image_size`, flip when `data.flip`. RGB and depth of
a sample share the indices (pairing rule in docs/video_data.md) and the crop. Batches (static
shapes): `inputs` (B, T, S, S, C) uint8 for RGB, uint16 for depth or RGB + depth (RGB channels
first), `label` int32, `name`, `valid`; the trainer normalises inside the jitted step.

Files, process sharding, epochs, exact resume and evaluation padding are the skeleton pipeline's
(`input.RecordPipeline`): every random number of a sample comes from a stateless key of
(seed, process, epoch, position), so batch k depends only on (seed, k).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from data_pipelines import video_augment as aug
from data_pipelines import video_records
from data_pipelines.errors import DataError
from data_pipelines.input import RecordPipeline

_EXTRA_DRAWS = 4  # scale pair, y offset, x offset, flip


class VideoPipeline(RecordPipeline):
  """Video batches of one split; see the module docstring."""

  def _configure(self) -> None:
    d = self.config.data
    self.modalities = video_records.modalities_of(d.modalities)
    bad = [m for m in self.modalities if m not in video_records.MODALITIES]
    if bad or not self.modalities or len(set(self.modalities)) != len(self.modalities):
      raise DataError(f"data.modalities={self.modalities!r}: use ('rgb',), ('depth',) or"
                      " ('rgb', 'depth')")
    stored = self.info.get("modalities")
    if stored is None:
      raise DataError(f"{d.dir} holds no video records (dataset_info.json has no 'modalities');"
                      " prepare a video dataset (ntu60_video, isogd, video_list, ...)")
    missing = [m for m in self.modalities if m not in stored]
    if missing:
      raise DataError(f"data.modalities asks for {missing[0]} but {d.dir} stores only"
                      f" {','.join(stored)}; set --config.data.modalities or prepare with"
                      f" --modalities {','.join(self.modalities)}")
    self.num_frames = int(d.num_frames)
    self.image_size = int(d.image_size)
    if self.num_frames < 1 or self.image_size < 1:
      raise DataError(f"data.num_frames={self.num_frames} and data.image_size={self.image_size}"
                      " must be positive")
    self.channels = 3 * ("rgb" in self.modalities) + ("depth" in self.modalities)
    self.dtype = np.uint8 if self.modalities == ("rgb",) else np.uint16

  # ------------------------------------------------------------------ decoding
  @staticmethod
  def _decode_depth(ex: dict, indices: tf.Tensor) -> tf.Tensor:
    """The chosen depth frames, decoded: (T, H, W, 1) uint16."""
    encoded = tf.gather(ex["depth/encoded"], indices)
    deep = lambda s: tf.io.decode_png(s, channels=1, dtype=tf.uint16)
    # 8-bit depth (PNG or JPEG) keeps its values: decode_png(dtype=uint16) would scale by 257.
    shallow = lambda s: tf.cast(tf.io.decode_image(s, channels=1, expand_animations=False), tf.uint16)
    decode = lambda s: tf.cond(ex["depth/bits"] > 8, lambda: deep(s), lambda: shallow(s))
    return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec([None, None, 1], tf.uint16))

  def _clip(self, serialized: tf.Tensor, u: tf.Tensor, box_fn, do_flip: tf.Tensor) -> dict:
    ex = video_records.parse(serialized, self.modalities)
    first = self.modalities[0]  # RGB when present: its timeline leads (pairing rule)
    n_first = tf.cast(tf.size(ex[f"{first}/encoded"]), tf.int32)
    tf.debugging.assert_positive(n_first, message="a video record without frames")
    idx = aug.segment_indices(n_first, self.num_frames, u)
    box = None
    if first == "rgb":  # the frame size from the first sampled JPEG's header, before decoding
      shape = tf.io.extract_jpeg_shape(ex["rgb/encoded"][idx[0]])
      box = box_fn(shape[0], shape[1])
    parts = []
    for m in self.modalities:
      n = tf.cast(tf.size(ex[f"{m}/encoded"]), tf.int32)
      indices = idx if m == first else aug.paired_indices(idx, n_first, n)
      if m == "rgb":  # decodes only the crop's window
        frames = aug.decode_crop_resize_jpeg(tf.gather(ex["rgb/encoded"], indices), box,
                                             self.image_size)
      else:
        frames = self._decode_depth(ex, indices)
        if box is None:  # one relative box for both modalities, drawn on the leading one's frame
          box = box_fn(tf.shape(frames)[1], tf.shape(frames)[2])
        frames = aug.crop_resize(frames, box, self.image_size, nearest=True)
      parts.append(tf.cast(frames, self.dtype))
    x = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
    x = aug.flip(x, do_flip)
    x = tf.ensure_shape(x, [self.num_frames, self.image_size, self.image_size, self.channels])
    return {"inputs": x, "label": tf.cast(ex["label"], tf.int32), "name": ex["name"],
            "valid": tf.constant(True)}

  # ------------------------------------------------------------------ RecordPipeline hooks
  def _train_sample(self, key: tf.Tensor, serialized: tf.Tensor) -> dict:
    d = self.config.data
    r = tf.random.stateless_uniform([self.num_frames + _EXTRA_DRAWS], key)
    u, extra = r[:self.num_frames], r[self.num_frames:]
    box_fn = lambda h, w: aug.multiscale_box(h, w, extra[:3], tuple(d.crop_scales),
                                             int(d.max_distort))
    do_flip = tf.logical_and(tf.constant(bool(d.flip)), extra[3] < 0.5)
    return self._clip(serialized, u, box_fn, do_flip)

  def _eval_sample(self, clip: tf.Tensor, serialized: tf.Tensor) -> dict:
    u = aug.test_positions(self.num_frames, clip, self.num_clips)
    return self._clip(serialized, u, aug.centre_box, tf.constant(False))

  def _padding_rows(self, n: int) -> dict[str, np.ndarray]:
    shape = (n, self.num_frames, self.image_size, self.image_size, self.channels)
    return {"inputs": np.zeros(shape, self.dtype), "label": np.zeros(n, np.int32),
            "name": np.full(n, b"", dtype=object), "valid": np.zeros(n, bool)}
