"""FD-MAE configs (Liu et al., FD-MAE §III; MAMP's recipes where FD-MAE gives none).

`--config configs/fdmae.py:<variant>[,key=value,...]`, variants <dataset>_<protocol>_<stage> with
stage one of
  pretrain  self-supervised pre-training ('fdmae_pretrain', loss.name='model')
  linear    linear evaluation: frozen encoder + MAMP's linear head (Tables I-II)
  finetune  full fine-tuning: MAMP's fine-tune head, layer decay 0.8, label smoothing 0.1
  semi1 / semi10  fine-tuning on 1% / 10% of the training labels (Table III)
and demo_pretrain / demo_linear / demo_finetune on synthetic data. Evaluation stages start from
init.checkpoint = the pre-training workdir (set it on the command line).
Ablations (Tables IV-VII): model.dual_path, model.freq_recon, model.masking=tube|random,
model.mask_ratio, model.tube_len, model.decoder_depth.
"""
from __future__ import annotations

import os

from actionjax import config as config_lib

_DATA = {  # dataset_protocol -> (dataset, protocol, classes, decoder depth)
    "ntu60_xsub": ("ntu60", "xsub", 60, 3),  # Table VII: 3 decoder blocks on NTU-60
    "ntu60_xview": ("ntu60", "xview", 60, 3),
    "ntu120_xsub": ("ntu120", "xsub", 120, 5),  # MAMP's 5 decoder blocks on NTU-120
    "ntu120_xset": ("ntu120", "xset", 120, 5),
    "demo": ("ntu60", "xsub", 8, 1),
}
_STAGES = ("pretrain", "linear", "finetune", "semi1", "semi10")
VARIANTS = tuple(f"{d}_{s}" for d in _DATA if d != "demo" for s in _STAGES) + (
    "demo_pretrain", "demo_linear", "demo_finetune")

ENCODER_FRAMES = 120  # MAMP's encoder input; pre-training reads 2 x 120 frames (odd / even paths)


def model_config(num_classes: int, decoder_depth: int) -> config_lib.ConfigDict:
  return config_lib.ConfigDict({
      "name": "fdmae_pretrain",
      "num_classes": num_classes,
      # Encoder = MAMP's (mamp_interop.md): tokens of 4 frames x 1 joint.
      "dim": 256, "depth": 8, "num_heads": 8, "mlp_ratio": 4.0, "t_patch": 4,
      "drop_path": 0.0,
      # Decoder (MAMP): width 256, 8 heads; depth Table VII.
      "decoder_dim": 256, "decoder_depth": decoder_depth, "decoder_heads": 8,
      # Masking (§II-B): 88% (Table V) of the joints of each tube of 3 token steps = 12 frames
      # (Table VI); 30 token steps -> 10 tubes.
      "masking": "tube",            # tube | random (Table IV without MTM: MAE's random masking)
      "mask_ratio": 0.88,
      "tube_len": 3,
      "shared_mask": True,          # paper silent; one mask for both paths so L_mc compares like tokens
      "dual_path": True,            # Table IV DP
      "freq_recon": True,           # Table IV FR
      "norm_target": True,          # MAMP's per-token normalised motion target for L_m
      # Paper silent on the cut-off: DCT coefficients k < 0.25 T are 'low'. It keeps the low band
      # well under the T/2-step low output's Nyquist limit (k < T/2) while giving it the coarse trend.
      "freq_cutoff": 0.25,
      # Paper silent on eta1, eta2 (Eq. 7): 1.0 each; all terms are O(1) after target normalisation.
      "eta1": 1.0,
      "eta2": 1.0,
      # Paper silent on SSFRM widths: 64 channels, 8 groups keep it a small part of the step cost.
      "sfr_dim": 64,
      "sfr_groups": 8,
      # auto: attention loops over (sequence, head) on a single CPU device and is batched elsewhere
      # (actionjax/layers/looped_attention.py); looped | batched force one form. Same numbers.
      "attention": "auto",
      # Evaluation heads (MAMP).
      "head": "linear",             # linear | finetune
      "head_hidden": 2048,
      "head_dropout": 0.3,
  })


def _pretrain(c: config_lib.ConfigDict) -> None:
  """MAMP's pre-training recipe: 400 epochs, 20 warm-up, AdamW (0.9, 0.95), lr 1e-3, wd 0.05,
  batch 128, half-cycle cosine to 5e-4."""
  c.model.name = "fdmae_pretrain"
  c.data.num_frames = 2 * ENCODER_FRAMES  # odd + even frames: each path gets the encoder's 120
  c.loss.name = "model"
  # Eq. 1's gamma (paper silent): BYOL's [28] base target decay 0.996.
  c.train.ema_decay = 0.996
  c.train.batch_size = 128
  c.train.num_epochs = 400.0
  c.train.best_metric = "loss"
  # 1.8 GB of XLA temporaries per step (batch 8): re-faulting them cost 1-3 s a step on CPU.
  c.train.keep_host_memory = True
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2 = 0.9, 0.95
  c.optimizer.weight_decay = 0.05
  c.schedule.name = "warmup_cosine"
  c.schedule.base_lr = 1e-3
  c.schedule.warmup_epochs = 20.0
  c.schedule.end_lr_factor = 0.5


def _linear(c: config_lib.ConfigDict) -> None:
  """MAMP's linear probe: 100 epochs, lr 0.1, batch 128; only head.* trains."""
  c.model.name = "fdmae_classifier"
  c.model.head = "linear"
  c.data.num_frames = ENCODER_FRAMES
  c.train.batch_size = 128
  c.train.num_epochs = 100.0
  c.optimizer.name = "sgd"  # MAMP's facts name no optimizer for the probe; SGD suits lr 0.1
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 0.0
  c.optimizer.freeze = r"^(?!head\.)"  # every parameter outside the head stays fixed
  c.schedule.name = "warmup_cosine"
  c.schedule.base_lr = 0.1
  c.schedule.warmup_epochs = 0.0


def _finetune(c: config_lib.ConfigDict, label_fraction: float = 1.0) -> None:
  """MAMP's fine-tuning: 100 epochs, 5 warm-up, AdamW lr 5e-4, wd 0.05, layer decay 0.8, label
  smoothing 0.1, drop path 0.3, batch 24. Semi-supervised runs (Table III) use the same recipe."""
  c.model.name = "fdmae_classifier"
  c.model.head = "finetune"
  c.model.drop_path = 0.3
  c.data.label_fraction = label_fraction  # per-class subset, names saved in <workdir>/label_subset
  c.data.num_frames = ENCODER_FRAMES
  c.train.batch_size = 24
  c.train.num_epochs = 100.0
  c.train.label_smoothing = 0.1
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2 = 0.9, 0.999
  c.optimizer.weight_decay = 0.05
  c.optimizer.layer_decay = 0.8
  c.schedule.name = "warmup_cosine"
  c.schedule.base_lr = 5e-4
  c.schedule.warmup_epochs = 5.0
  c.schedule.end_lr_factor = 1e-3  # MAE/MAMP fine-tuning decays to min_lr 1e-6 ~ 0.002 x 5e-4


def _demo(c: config_lib.ConfigDict, stage: str) -> None:
  """Tiny model on synthetic data: trains on 2 CPU cores in minutes."""
  c.model.update(dim=32, depth=2, num_heads=4, decoder_dim=32, decoder_heads=4, sfr_dim=16,
                 sfr_groups=4, head_hidden=128)
  c.data.synthetic = "ntu60"
  c.data.dir = os.path.expanduser("~/.cache/actionjax/demo_fdmae")
  c.data.num_frames = 64 if stage == "pretrain" else 32  # 8 token steps per path
  c.model.tube_len = 2
  c.train.batch_size = 16
  c.train.num_epochs = 0.0
  c.train.num_steps = 300
  c.train.checkpoint_every_steps = 300
  c.train.log_every_steps = 50
  c.schedule.warmup_epochs = 0.0
  c.schedule.warmup_steps = 20
  if stage == "pretrain":
    c.train.ema_decay = 0.99  # few steps: a faster-moving target
  elif stage == "linear":
    c.schedule.base_lr = 0.05
  else:
    c.schedule.base_lr = 1e-3


def get_config(arg: str = "ntu60_xsub_pretrain") -> config_lib.ConfigDict:
  """`arg` = variant[,key=value...]."""
  variant, options = config_lib.parse_variant(arg, VARIANTS)
  data_key, stage = variant.rsplit("_", 1)
  dataset, protocol, classes, decoder_depth = _DATA[data_key]
  c = config_lib.base_config()
  c.model = model_config(classes, decoder_depth)
  c.data.dataset, c.data.protocol = dataset, protocol
  # MAMP's data: centre on joint 2 of the first frame, no rotation alignment ('ctrgcn' centring);
  # crop 0.5-1 of the valid frames (test 0.95), linear resize, random rotation (0.3 rad, CTR-GCN).
  c.data.normalize = "ctrgcn"
  c.data.sampling = "crop_resize"
  c.data.crop_ratio = (0.5, 1.0)
  c.data.test_crop_ratio = 0.95
  c.data.rotation = 0.3
  if stage == "pretrain":
    _pretrain(c)
  elif stage == "linear":
    _linear(c)
  else:
    _finetune(c, {"finetune": 1.0, "semi1": 0.01, "semi10": 0.1}[stage])
  if data_key == "demo":
    _demo(c, stage)
  config_lib.apply_options(c, options)
  return c
