"""The small video baseline (`tiny_video`) on every prepared video dataset: the configs that run the
video pipeline and the trainer before MFST and X-STFT, and the template their configs follow.

Variants: demo (synthetic NTU-format video, generated and prepared on first use), ntu60_xsub,
ntu60_xview, ntu120_xsub, ntu120_xset, isogd, video_list. Options follow the variant, e.g.
`configs/tiny_video.py:isogd,modalities=rgbd,num_frames=32` (modalities: rgb | depth | rgbd).
"""
from __future__ import annotations

import os

import ml_collections

from actionjax import config as config_lib

VARIANTS = ("demo", "ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "isogd", "video_list")


def get_config(arg: str = "demo") -> ml_collections.ConfigDict:
  variant, options = config_lib.parse_variant(arg, VARIANTS)
  c = config_lib.base_config()
  c.model = ml_collections.ConfigDict({"name": "tiny_video", "num_classes": 0, "width": 16,
                                       "dropout": 0.1})
  c.data.modalities = ("rgb",)
  c.data.num_frames, c.data.image_size = 16, 112
  c.data.flip = False
  c.data.shuffle_buffer = 256  # video records are ~1-2 MB: a smaller buffer than skeletons'
  c.optimizer.name, c.optimizer.momentum, c.optimizer.weight_decay = "sgd", 0.9, 1e-4
  c.schedule.name, c.schedule.base_lr, c.schedule.warmup_epochs = "warmup_cosine", 0.05, 1.0
  c.train.batch_size, c.train.num_epochs = 32, 30.0

  if variant.startswith("ntu"):
    c.data.dataset, c.data.protocol = variant.split("_")[0] + "_video", variant.split("_")[1]
  elif variant == "isogd":
    c.data.dataset, c.data.protocol, c.data.eval_split = "isogd", "", "valid"
  elif variant == "video_list":
    c.data.dataset, c.data.protocol = "video_list", ""
  else:  # demo: synthetic NTU-format RGB video, a CPU run of a few minutes
    c.data.dataset, c.data.protocol, c.data.synthetic = "ntu60_video", "xsub", "ntu60_video"
    c.data.dir = os.path.expanduser("~/.cache/actionjax/demo_tiny_video")
    c.data.num_frames, c.data.image_size = 8, 48
    c.model.num_classes = 8
    c.schedule.base_lr, c.schedule.warmup_epochs, c.schedule.warmup_steps = 0.1, 0.0, 10
    c.train.batch_size, c.train.num_steps = 16, 120
    c.train.log_every_steps, c.train.checkpoint_every_steps = 20, 60
  config_lib.apply_options(c, options)
  return c
