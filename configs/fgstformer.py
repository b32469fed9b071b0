"""FG-STFormer configs (Gao et al., ACCV 2022, §4.2).

`--config configs/fgstformer.py:<variant>[,key=value,...]`, e.g. `ntu60_xsub,stream=bone` or
`ntu60_xsub,model.num_focal=9` (Table 2). `stream=` is short for `data.stream=`; other keys are
dotted config paths. Table ablations: model.focal / model.num_focal (Tables 1-2),
model.part_branch, model.jpca (Table 1), model.temporal = fg | basic | tcn (Table 3),
model.depths with model.channels (Table 4).
"""
from __future__ import annotations

import math

from actionjax import config as config_lib

VARIANTS = ("ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "nwucla", "demo")

# Four-stream fusion weights joint:bone:joint_motion:bone_motion (§4.5 fuses the four streams;
# the paper gives no weights, these are the two conventions of reference/datasets.md).
ENSEMBLE_WEIGHTS = {"ctrgcn": (0.6, 0.6, 0.4, 0.4), "pyskl": (2, 2, 1, 1)}

_DATA = {  # variant -> (dataset, protocol, classes)
    "ntu60_xsub": ("ntu60", "xsub", 60),
    "ntu60_xview": ("ntu60", "xview", 60),
    "ntu120_xsub": ("ntu120", "xsub", 120),
    "ntu120_xset": ("ntu120", "xset", 120),
    "nwucla": ("nwucla", "", 10),
    "demo": ("ntu60", "xsub", 8),
}


def model_config(num_classes: int) -> config_lib.ConfigDict:
  """The §4.2 architecture: 8 layers, widths 64-256, 3 spatial / 2 temporal heads, K=15, P=10."""
  return config_lib.ConfigDict({
      "name": "fgstformer",
      "num_classes": num_classes,
      "channels": (64, 64, 128, 128, 256, 256, 256, 256),  # T halves where the width doubles
      "depths": (6, 2),                 # (L1, L2), Table 4
      "spatial_heads": 3,
      # Per-head query/key width of the spatial attention, one value for all layers or one per
      # layer; paper silent. DSTA-Net's inter_channels (16 per head) at the first width.
      "spatial_qk_features": (16,),
      "temporal_heads": 2,
      "temporal_kernel": 7,
      "temporal_dilations": (1, 2),     # one per temporal head
      "temporal": "fg",                 # fg | basic | tcn (Table 3)
      "focal": True,                    # Table 1
      "num_focal": 15,                  # K, Table 2
      "part_branch": True,
      "jpca": True,
      "parts": "auto",                  # ntu25 | nwucla20 | tuple of joint tuples; auto by num_joints
      "norm": "batch",                  # paper silent; DSTA-Net's blocks use BatchNorm
      "leaky_slope": 0.1,               # paper silent; DSTA-Net uses LeakyReLU(0.1)
      "hidden": 256,                    # width of the first of the two FC layers (paper silent)
      "dropout": 0.0,                   # the paper uses none
      "person_pool": "mean",            # mean (CTR-GCN, zero persons included) | masked_mean
      # torch: nn.Linear / nn.Conv2d's default initialisation, which the paper's PyTorch code gets
      # (U(+-1/sqrt(fan_in)) weights and biases); flax: lecun_normal weights, zero biases. With
      # BatchNorm after a layer, flax's 1.7x larger weights cut SGD's effective step by ~3x.
      "init": "torch",
  })


def get_config(arg: str = "ntu60_xsub") -> config_lib.ConfigDict:
  """`arg` = variant[,key=value...]."""
  variant, options = config_lib.parse_variant(arg, VARIANTS)
  dataset, protocol, classes = _DATA[variant]
  c = config_lib.base_config()
  c.model = model_config(classes)
  c.data.dataset, c.data.protocol = dataset, protocol
  # §4.2: 128 frames, CTR-GCN preprocessing [5] (random crop-resize, rotation).
  c.data.num_frames = 128
  c.data.normalize = "ctrgcn"
  c.data.sampling = "crop_resize"
  c.train.batch_size = 32
  c.train.num_epochs = 80.0
  c.optimizer.name = "sgd"
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = True
  c.optimizer.weight_decay = 5e-4
  c.optimizer.decay_mask = "all"  # PyTorch SGD(weight_decay=...) decays every parameter
  c.schedule.name = "multistep"
  c.schedule.base_lr = 0.01  # §4.2 at batch 32; the paper states no scaling rule
  c.schedule.warmup_epochs = 5.0
  c.schedule.boundaries_epochs = (50, 70)
  c.schedule.decay_factor = 0.1
  if variant == "nwucla":
    # CTR-GCN's NW-UCLA feeder (§4.2 "same pre-processing"): one actor, 20 joints, 52 frames
    # resampled over the whole sequence; centre on joint 2 of frame 0, rotate up to 60 degrees
    # about y and x, scale 0.5-1.5, then min-max each axis to [-1, 1] (which cancels the scale).
    c.data.normalize = "nwucla"
    c.data.num_frames = 52
    c.data.max_persons = 1
    c.data.num_joints = 20
    c.data.sampling = "uniform"
    c.data.rotation = math.radians(60)
    c.data.rotation_axes = "xy"
    c.data.scale = 0.5
    c.data.minmax = True
    # The feeder's epoch is 5 passes over the 1,020 training samples (`repeat: 5` in CTR-GCN's
    # NW-UCLA configs); the paper's 80 epochs are read in that unit, the codebase it builds on.
    c.data.repeat = 5
  if variant == "demo":
    # Small and fast enough to train on 2 CPU cores in minutes on synthetic data.
    c.model.channels = (32, 64, 64)
    c.model.depths = (2, 1)
    c.model.num_focal = 8
    c.model.spatial_qk_features = (8,)
    c.model.hidden = 64
    c.data.num_frames = 32
    c.data.synthetic = "ntu60"
    c.data.dir = "~/.cache/actionjax/demo_data"  # expanded by the loader
    c.train.batch_size = 16
    c.train.num_epochs = 0.0
    c.train.num_steps = 300
    c.train.checkpoint_every_steps = 300
    c.train.log_every_steps = 50
    c.optimizer.name = "adamw"
    c.optimizer.weight_decay = 1e-4
    c.optimizer.decay_mask = "no_norm_bias_embed"
    c.schedule.name = "warmup_cosine"
    c.schedule.base_lr = 1e-3
    c.schedule.warmup_epochs = 0.0
    c.schedule.warmup_steps = 20
    c.schedule.boundaries_epochs = ()
  config_lib.apply_options(c, options)
  return c
