"""Hand-made video records with frames whose pixels say where they came from (frame index, x, y),
written straight with data_pipelines.video_records (the converters have their own tests)."""
import io
import json
import os
import types

import numpy as np
import tensorflow as tf
from PIL import Image

from actionjax import config as config_lib
from data_pipelines import records, video_records


def _jpeg(frame):
  buf = io.BytesIO()
  Image.fromarray(frame).save(buf, format="JPEG", quality=95)
  return buf.getvalue()


def _png16(frame):
  buf = io.BytesIO()
  Image.fromarray(frame.astype(np.uint16)).save(buf, format="PNG")
  return buf.getvalue()


def _clip(frames, encode, bits, channels):
  h, w = frames[0].shape[:2]
  return types.SimpleNamespace(frames=[encode(f) for f in frames], encoding="jpeg" if bits == 8 and channels == 3 else "png",
                               bits=bits, channels=channels, num_frames=len(frames), fps=30.0,
                               orig_size=(h, w), size=(h, w))


def rgb_frames(n, h, w, seed=0):
  """Frame i: R = x ramp, G = y ramp, B = 10 * i (reads the frame index back after a crop)."""
  y, x = np.mgrid[0:h, 0:w]
  out = []
  for i in range(n):
    f = np.stack([x * 4, y * 4, np.full_like(x, 10 * i)], -1)
    out.append(np.clip(f, 0, 255).astype(np.uint8))
  return out


def depth_frames(n, h, w):
  """Frame i: x ramp (x 4, as RGB's R channel) + 1000 * i, uint16."""
  y, x = np.mgrid[0:h, 0:w]
  return [(x * 4 + 1000 * i).astype(np.uint16) for i in range(n)]


def write_records(out_dir, samples, split="train", num_shards=2, modalities=("rgb", "depth")):
  """samples: list of (name, label, rgb frames or None, depth frames or None)."""
  os.makedirs(out_dir, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(out_dir, records.shard_name(split, i, num_shards)))
             for i in range(num_shards)]
  for k, (name, label, rgb, depth) in enumerate(samples):
    s = types.SimpleNamespace(
        name=name, label=label, ids={}, crop="none", crop_box=(0, 0, 0, 0),
        rgb=_clip(rgb, _jpeg, 8, 3) if rgb is not None else None,
        depth=_clip(depth, _png16, 16, 1) if depth is not None else None)
    writers[k % num_shards].write(video_records.serialize(s))
  for w in writers:
    w.close()
  info = {"dataset": "test_video", "num_classes": 4, "class_names": list("abcd"),
          "modalities": list(modalities), "depth_max": 4500.0, "protocols": {"": {split: len(samples)}}}
  with open(os.path.join(out_dir, records.INFO_FILE), "w") as f:
    json.dump(info, f)


def video_config(data_dir, **data):
  c = config_lib.base_config()
  c.model.name, c.model.num_classes = "tiny_video", 4
  c.data.dir, c.data.protocol = data_dir, ""
  c.data.modalities, c.data.num_frames, c.data.image_size = ("rgb", "depth"), 8, 32
  c.data.shuffle_buffer = 4
  for k, v in data.items():
    c.data[k] = v
  return c
