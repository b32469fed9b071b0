"""SLnL-rFA configs (Hu et al., AAAI 2019), the §4.1 recipe.

Variants: ntu60_xsub, ntu60_xview, kinetics_skeleton, demo; `,key=value` options may follow, e.g.
`configs/slnl_rfa.py:ntu60_xsub,stream=bone,num_slnl_blocks=3` (a bare key is looked up in
model, data, loss, train, optimizer, schedule in that order; dotted keys like `loss.margin` also work).

Ablation switches (config.model): transform (Table 3: coord_skeleton = CS-T, coord = C-T,
skeleton = S-T, cnn = CNN-V, none with streams pos / vel / posvel = Pos-N / Vel-N / PosVel-N);
loss.name / loss.gamma / loss.margin (Table 4: cross_entropy, focal, soft_margin_ce,
soft_margin_focal); frequency_attention (Table 5: none, afa, sfa, dfa, rfa); num_slnl_blocks = M1
and nonlocal_kinds (Table 6: ('temporal',) = tSLnL, ('spatial',) = sSLnL, all three = SLnL).
"""
from __future__ import annotations

import ast
import os

import ml_collections

from actionjax import config as config_lib

VARIANTS = ("ntu60_xsub", "ntu60_xview", "kinetics_skeleton", "demo")


def _model() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "name": "slnl_rfa",
      "num_classes": 60,
      "streams": "posvel",              # posvel | pos | vel (Table 3)
      "transform": "coord_skeleton",    # coord_skeleton | coord | skeleton | cnn | none (Table 3)
      "num_coords": 10,                 # K oblique coordinate systems (§4.1)
      "num_new_joints": 64,             # N' (§4.1)
      "input_bn": True,                 # §4.1: a BN layer normalises the scale of the input
      "frequency_attention": "rfa",     # rfa | dfa | sfa | afa | none (Table 5)
      # The paper gives no lambda: 16 is the squeeze-excitation default it cites (He et al.).
      "fa_ratio": 16,
      # Eq. 2 has no non-linearity between the two FC layers; 'relu' is the SE-style alternative.
      "fa_hidden_act": "none",
      "channels": (64, 64, 128, 128, 256, 256),
      "kernel_sizes": (3, 3, 3, 3, 3, 3),
      "num_slnl_blocks": 5,             # M1; M2 = len(channels) - M1 (Table 6)
      "nonlocal_kinds": ("temporal", "spatial", "spatiotemporal"),
      # Embedding width L of phi/psi as a fraction of the output channels: the paper gives none;
      # half is the bottleneck of the non-local networks it builds on (Wang et al. 2017).
      "nonlocal_ratio": 0.5,
      # Fig. 3 is not in the text: 'sequential' runs tLocal -> sLocal -> stLocal (each with its
      # non-local partner); 'parallel_ts' sums the temporal and spatial branches, then stLocal.
      "block_layout": "sequential",
      "pool_every": 2,                  # 2x2 max-pooling every two blocks (§4.1), not after the last
      "dropout": 0.2,
      "person_pool": "max",             # max | mean over persons after pooling (HCN's choice)
      "bn_momentum": 0.9,               # flax momentum 0.9 = torch's default 0.1
  })


def _parse(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def get_config(arg: str = "ntu60_xsub") -> ml_collections.ConfigDict:
  variant, options = config_lib.parse_variant(arg, VARIANTS)
  c = config_lib.base_config()
  c.model = _model()
  # §4.1 data preparation: random crop ratio U[0.5, 1] for training, central 0.95 for testing,
  # bilinear resize to a fixed length; the input BN then normalises the scale, so no other
  # normalisation and no rotation augmentation (neither is in the paper).
  c.data.sampling = "crop_resize"
  c.data.crop_ratio = (0.5, 1.0)
  c.data.test_crop_ratio = 0.95
  c.data.normalize = "none"
  c.data.rotation = 0.0
  c.optimizer.name = "adam"
  c.optimizer.weight_decay = 5e-4
  c.schedule.name = "exponential"
  c.schedule.base_lr = 1e-3
  c.schedule.warmup_epochs = 0.0
  c.loss.name = "soft_margin_focal"  # SMFL(2, 0.4), Table 4
  c.loss.gamma = 2.0
  c.loss.margin = 0.4

  if variant.startswith("ntu60"):
    c.data.dataset, c.data.protocol = "ntu60", variant.split("_")[1]
    c.data.num_frames, c.data.num_joints, c.data.channels, c.data.max_persons = 64, 25, 3, 2
    c.schedule.decay_rate = 0.98
    c.train.num_epochs, c.train.batch_size = 300.0, 32
    # Table 6 adopts M1 = 5 (best CS, 89.1 in Table 1) and M1 = 3 (best CV, 94.9).
    c.model.num_slnl_blocks = 5 if variant == "ntu60_xsub" else 3
  elif variant == "kinetics_skeleton":
    c.data.dataset, c.data.protocol = "kinetics_skeleton", ""
    c.data.num_frames, c.data.num_joints, c.data.channels, c.data.max_persons = 128, 18, 3, 2
    c.model.num_classes = 400
    c.model.channels = (64, 64, 128, 128, 256, 256, 512, 512)
    c.model.kernel_sizes = (5, 5, 3, 3, 3, 3, 3, 3)
    c.model.num_slnl_blocks = 5  # not reported for Kinetics; the NTU CS choice
    c.schedule.decay_rate = 0.95
    c.train.num_epochs, c.train.batch_size = 100.0, 128
  else:  # demo: tiny model on synthetic NTU-format data, a CPU run of about a minute
    c.data.dataset, c.data.protocol, c.data.synthetic = "ntu60", "xsub", "ntu60"
    c.data.dir = os.path.expanduser("~/.cache/actionjax/demo_slnl")
    c.data.num_frames, c.data.num_joints, c.data.channels, c.data.max_persons = 32, 25, 3, 2
    c.model.num_classes = 8
    c.model.num_coords, c.model.num_new_joints = 4, 16
    c.model.channels, c.model.kernel_sizes = (16, 16, 32, 32), (3, 3, 3, 3)
    c.model.num_slnl_blocks = 2
    c.model.fa_ratio = 8
    c.schedule.decay_rate = 0.98
    c.train.batch_size, c.train.num_steps = 16, 80
    c.train.log_every_steps, c.train.checkpoint_every_steps = 10, 50
  config_lib.apply_options(c, options)
  return c
