"""TFRecord schema for prepared video (docs/video_data.md): one `tf.train.SequenceExample` per
sample, one encoded image per frame, so the pipeline samples frame indices before decoding (the
DMVR layout). RGB and depth of a sample share the record so that indices and crops align.
"""
from __future__ import annotations

from typing import Any

from data_pipelines.records import _tf

MODALITIES = ("rgb", "depth")
_PER_MODALITY_INT = ("num_frames", "height", "width", "orig_height", "orig_width", "bits", "channels")
NTU_ID_KEYS = ("setup", "camera", "performer", "replication")


def modalities_of(value) -> tuple[str, ...]:
  """`data.modalities` as a tuple: accepts ('rgb', 'depth'), 'rgb,depth', 'rgb+depth', 'rgbd' or
  ('rgb,depth',) (what a command-line override gives)."""
  items = (value,) if isinstance(value, str) else tuple(value)
  out = []
  for item in items:
    for m in str(item).replace("+", ",").split(","):
      m = m.strip()
      out += ["rgb", "depth"] if m == "rgbd" else [m] if m else []
  return tuple(out)


def serialize(sample: Any) -> bytes:
  """`sample`: a `video_catalog.VideoSample` (name, label, ids, rgb / depth `Clip`s, crop, crop_box)."""
  tf = _tf()
  int64 = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(x) for x in v]))
  text = lambda s: tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode()]))
  clips = {m: getattr(sample, m) for m in MODALITIES if getattr(sample, m, None) is not None}
  if not clips:
    raise ValueError(f"sample {sample.name} has neither RGB nor depth frames")
  fps = next((c.fps for c in clips.values() if c.fps), 0.0)
  context = {
      "name": text(sample.name),
      "label": int64([sample.label]),
      "modality": text(",".join(clips)),
      "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[float(fps)])),
      "crop": text(sample.crop),
      "crop_box": int64(sample.crop_box or (0, 0, 0, 0)),
  }
  for key, value in dict(sample.ids).items():
    context[key] = int64([value])
  lists = {}
  for m, clip in clips.items():
    (h, w), (oh, ow) = clip.size, clip.orig_size
    values = dict(num_frames=len(clip.frames), height=h, width=w, orig_height=oh, orig_width=ow,
                  bits=clip.bits, channels=clip.channels)
    for key in _PER_MODALITY_INT:
      context[f"{m}/{key}"] = int64([values[key]])
    context[f"{m}/encoding"] = text(clip.encoding)
    lists[f"{m}/encoded"] = tf.train.FeatureList(feature=[
        tf.train.Feature(bytes_list=tf.train.BytesList(value=[f])) for f in clip.frames])
  example = tf.train.SequenceExample(context=tf.train.Features(feature=context),
                                     feature_lists=tf.train.FeatureLists(feature_list=lists))
  # deterministic=True sorts the maps: byte-identical shards whatever the worker count.
  return example.SerializeToString(deterministic=True)


def parse(serialized, modalities: tuple[str, ...], id_keys: tuple[str, ...] = ()):
  """tf.data map function: -> dict with context keys and `<m>/encoded` string vectors (still
  encoded: the pipeline picks frames, then decodes only those)."""
  tf = _tf()
  context = {
      "name": tf.io.FixedLenFeature([], tf.string),
      "label": tf.io.FixedLenFeature([], tf.int64),
      "modality": tf.io.FixedLenFeature([], tf.string),
      "fps": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
      "crop": tf.io.FixedLenFeature([], tf.string, default_value=b"none"),
      "crop_box": tf.io.FixedLenFeature([4], tf.int64, default_value=[0, 0, 0, 0]),
  }
  for key in id_keys:
    context[key] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)
  lists = {}
  for m in modalities:
    for key in _PER_MODALITY_INT:
      context[f"{m}/{key}"] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
    lists[f"{m}/encoded"] = tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True)
  ctx, seq = tf.io.parse_single_sequence_example(serialized, context_features=context,
                                                 sequence_features=lists)
  return {**ctx, **seq}


def parse_numpy(serialized: bytes) -> dict:
  """Pure-Python parse of one record (tests, tools): context values and encoded frame lists."""
  tf = _tf()
  ex = tf.train.SequenceExample.FromString(serialized)
  out: dict = {}
  for key, f in ex.context.feature.items():
    kind = f.WhichOneof("kind")
    values = list(getattr(f, kind).value)
    if kind == "bytes_list":
      values = [v.decode() for v in values]
    out[key] = values[0] if len(values) == 1 and key != "crop_box" else values
  for key, fl in ex.feature_lists.feature_list.items():
    out[key] = [f.bytes_list.value[0] for f in fl.feature]
  return out
