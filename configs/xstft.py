"""X-STFT network configs (Kumawat et al., TPAMI; Sec. 5.2 recipe, Table 2 networks).

`--config configs/xstft.py:<dataset>[,net=<network>][,frames=16|32|64][,recipe=scratch|finetune]
[,key=value...]`, e.g. `ssv1,net=st,frames=32` or `jester,net=t,model.stem=stft`.

Networks (`net=`, default `t`, the paper's best): st, s, t (ST / S / T-STFT), fact_dw (Fact.+DW,
Fig. 1e), relpv (the CVPR 2019 block), i3d, s3d (Table 2's baselines in the same backbone).
Datasets: ssv1, ssv2, jester, kinetics400, ucf101, hmdb51, diving48 (prepared as `video_list`),
ntu60_xsub (NTU RGB video), isogd (RGB), demo (synthetic NTU-format video, a CPU run of minutes).

Recipe (Sec. 5.2): T frames by segment sampling, multi-scale crop {1, 2^-1/4, 2^-3/4, 1/2} to 112,
horizontal flips only for Kinetics / UCF101 / HMDB51 / Diving48; SGD momentum 0.9, dampening 0.9
(torch.optim.SGD's definition), weight decay 1e-3 on every weight, batch 32; from scratch lr 0.1
/ 10 every 40 epochs for 160 epochs; `recipe=finetune`: lr 0.01 / 10 every 20 epochs for 60.
Test: equidistant frames, centre crop, one clip (the video pipeline's evaluation mode).
"""
from __future__ import annotations

import os

from actionjax import config as config_lib
from actionjax.models.xstft import BLOCKS, I3D_MODULES

VARIANTS = ("ssv1", "ssv2", "jester", "kinetics400", "ucf101", "hmdb51", "diving48", "ntu60_xsub",
            "isogd", "demo")
NETWORKS = BLOCKS

_DATA = {  # variant -> (data.dataset, protocol, classes, flip); Table 1's class counts
    "ssv1": ("video_list", "", 174, False),
    "ssv2": ("video_list", "", 174, False),
    "jester": ("video_list", "", 27, False),
    "kinetics400": ("video_list", "", 400, True),
    "ucf101": ("video_list", "", 101, True),
    "hmdb51": ("video_list", "", 51, True),
    "diving48": ("video_list", "", 48, True),
    "ntu60_xsub": ("ntu60_video", "xsub", 60, False),
    "isogd": ("isogd", "", 249, False),
    "demo": ("ntu60_video", "xsub", 8, False),
}


def model_config(net: str, num_classes: int) -> config_lib.ConfigDict:
  """Sec. 4's Inception backbone; widths from reference/video_models.md (they land on Table 2)."""
  return config_lib.ConfigDict({
      "name": "xstft",
      "num_classes": num_classes,
      "block": net,                     # st | s | t | fact_dw | relpv | i3d | s3d
      "bottleneck_multiplier": 0.0,     # b = multiplier x I3D reduce width; 0 = the block's default
                                        # (st 3/8, s 1, t / fact_dw 11/4, relpv 1/4, i3d / s3d 1)
      "stem": "i3d",                    # i3d (fits Table 2) | stft (the text: two X-STFT blocks)
      "stem_widths": (64, 64, 192),     # i3d stem: 7x7x7/2 conv, 1x1x1, 3x3x3
      "stem_bottlenecks": (8, 32),      # stft stem: reduce widths of its two blocks (x multiplier)
      "modules": I3D_MODULES,           # (a, r3, c3, r5, c5, pool) per Inception module, 3b ... 5c
      "pool_after": (1, 6),             # 3x3x3/2 max-pool after 3c, 2x2x2/2 after 4f
      "pool_windows": ((3, 3, 3), (2, 2, 2)),
      "stft_n": 3,                      # window n (Sec. 3.1: n = 3)
      "dropout": 0.5,                   # before the classifier; paper silent, I3D / S3D use 0.5
      "depthwise": "auto",              # depthwise / STFT convs: auto (shifted products on CPU, where
                                        # XLA's grouped-conv gradients are dense; grouped conv elsewhere)
                                        # | conv | shift: the same numbers (tests/test_xstft.py)
  })


def _pop(options: list[str], key: str, default: str) -> str:
  for opt in list(options):
    k, _, v = opt.partition("=")
    if k == key:
      options.remove(opt)
      default = v
  return default


def get_config(arg: str = "ssv1") -> config_lib.ConfigDict:
  """`arg` = dataset[,net=...][,frames=...][,recipe=...][,key=value...]."""
  variant, options = config_lib.parse_variant(arg, VARIANTS)
  net = _pop(options, "net", "t")
  if net not in NETWORKS:
    raise config_lib.ConfigError(f"unknown net {net!r}; networks: {', '.join(NETWORKS)}")
  frames = int(_pop(options, "frames", "16"))
  if frames not in (16, 32, 64):
    raise config_lib.ConfigError(f"frames={frames}: the paper uses 16, 32 or 64")
  recipe = _pop(options, "recipe", "scratch")
  if recipe not in ("scratch", "finetune"):
    raise config_lib.ConfigError(f"recipe={recipe!r}: use scratch or finetune")
  dataset, protocol, classes, flip = _DATA[variant]

  c = config_lib.base_config()
  c.model = model_config(net, classes)
  c.data.dataset, c.data.protocol = dataset, protocol
  c.data.modalities = ("rgb",)
  c.data.num_frames, c.data.image_size = frames, 112
  c.data.flip = flip  # off where classes form mirror pairs (Jester's swipes, SSv1 / v2)
  c.data.crop_scales = (1.0, 2 ** -0.25, 2 ** -0.75, 0.5)
  c.data.num_clips = 1
  c.data.shuffle_buffer = 256
  if dataset == "video_list":
    c.data.eval_split = "val"  # the paper reports validation accuracy; prepare a (val, list) pair
  elif dataset == "isogd":
    c.data.eval_split = "valid"
  c.train.batch_size = 32
  c.optimizer.update(name="sgd", momentum=0.9, dampening=0.9, nesterov=False, weight_decay=1e-3,
                     decay_mask="all")  # torch.optim.SGD(weight_decay=...) decays every weight
  c.schedule.update(name="multistep", warmup_epochs=0.0, warmup_steps=0, decay_factor=0.1)
  if recipe == "scratch":
    c.schedule.base_lr, c.schedule.boundaries_epochs, c.train.num_epochs = 0.1, (40, 80, 120), 160.0
  else:  # fine-tuning from pre-trained weights (--config.init.checkpoint=...)
    c.schedule.base_lr, c.schedule.boundaries_epochs, c.train.num_epochs = 0.01, (20, 40), 60.0

  if variant == "demo":  # synthetic NTU-format RGB video; tiny widths: a CPU run of minutes
    c.data.synthetic = "ntu60_video"
    c.data.dir = os.path.expanduser("~/.cache/actionjax/demo_xstft")
    c.data.num_frames, c.data.image_size = 8, 48
    c.model.update(stem_widths=(8, 8, 16), stem_bottlenecks=(4, 8),
                   modules=((8, 8, 16, 4, 8, 8), (16, 8, 24, 4, 8, 16)), pool_after=(0,),
                   pool_windows=((3, 3, 3),), dropout=0.0)
    c.schedule.update(name="constant", base_lr=0.5)  # dampening 0.9: the step is 1/10 of lr's
    c.train.update(batch_size=16, num_steps=120, num_epochs=0.0, log_every_steps=20,
                   checkpoint_every_steps=60)
  config_lib.apply_options(c, options)
  return c
