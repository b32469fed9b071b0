"""MFST configs (Ma et al., Multi-stage Factorized Spatio-Temporal representation, §IV-A).

`--config configs/mfst.py:<variant>[,modality=rgb|depth|rgbd][,size=base|large|bm][,key=value]`:
variants ntu60_xsub, ntu60_xview, ntu120_xsub, ntu120_xset, isogd, demo (synthetic NTU-format
video, tiny widths, a CPU run of minutes). Sizes (Table III / §IV-A): base = 3 stages, large =
4 stages, bm = MFST-BM (vanilla 3D stem, no residual, one unshared transformer per temporal
scale, 3 stages). Ablations: model.stem / model.theta (Table IV), model.residual (Table V),
model.temporal_block=wms|vanilla (Table VI), model.num_stages (Table III).

RGB-D (Tables I-II "RGB+DEP"): late fusion of the RGB and depth runs' scores by sample name,
    actionjax ensemble --scores RGB/eval/test/scores.npz DEPTH/eval/test/scores.npz --weights 1 1
(RGB_DEPTH_WEIGHTS; the paper states no weights, equal weights are the plain reading of late
fusion). `modality=rgbd` trains both streams in one run (RGB -> CDC-ST, depth -> CDC-T) on RGB-D
records and fuses their logits with model.fusion_weights; each stream also gets its own loss.
"""
from __future__ import annotations

import os

from actionjax import config as config_lib

VARIANTS = ("ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "isogd", "demo")
RGB_DEPTH_WEIGHTS = (1.0, 1.0)  # late fusion RGB : depth (paper silent)

_DATA = {  # variant -> (dataset, protocol, classes, eval split)
    "ntu60_xsub": ("ntu60_video", "xsub", 60, "test"),
    "ntu60_xview": ("ntu60_video", "xview", 60, "test"),
    "ntu120_xsub": ("ntu120_video", "xsub", 120, "test"),
    "ntu120_xset": ("ntu120_video", "xset", 120, "test"),
    "isogd": ("isogd", "", 249, "valid"),
    "demo": ("ntu60_video", "xsub", 8, "test"),
}

# I3D Inception widths per module: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj); the
# "3x3" / "5x5" branches are 1x3x3 here (Eq. 7's InC_{1xkxk}). Stage 1 = 3b, 3c; 2 = 4b, 4c;
# 3 = 4d, 4e, 4f; 4 = 5b, 5c (reference/video_models.md's Table III configuration).
I3D_INCEPTION = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64)),
    ((128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)),
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
)


def model_config(num_classes: int, size: str = "base") -> config_lib.ConfigDict:
  m = config_lib.ConfigDict({
      "name": "mfst",
      "num_classes": num_classes,
      # CDC-Stem (§III-C): I3D's first five layers; CDC on the kt = 3 convs (kt > 1 so CDC acts).
      "stem": "auto",                 # auto (CDC-ST for RGB, CDC-T for depth) | cdc_st | cdc_t | vanilla
      "theta": 0.6,                   # Table IV
      "stem_widths": (64, 64, 192),   # I3D Conv3d_1a, 2b, 2c
      "stem_kernel1": (3, 7, 7),      # I3D's 7x7x7 with kt = 3 (reference page: temporal stride 1)
      "stem_kernel3": (3, 3, 3),
      # Stages (§III-D). Paper silent on widths: I3D modules, transformers at a narrower width d.
      "num_stages": 3,                # base 3, large 4 (Table III)
      "inception": I3D_INCEPTION,     # per stage, per module widths (see I3D_INCEPTION)
      "spatial_kernel": 3,            # k of the 1xkxk Inception convs
      "inception_pool": (3, 3, 3),    # the pool branch's max-pool (I3D; MotionRGBD's module)
      "stage_pool": (3, 2, 2, 0),     # spatial max-pool after each stage's modules, stride 2; 0 = none
      "dims": (192, 320, 384, 384),   # transformer width d per stage (Linear C->d before, d->C after)
      "num_heads": 8,                 # §III-D / §IV-A
      "spatial_layers": 4,            # MSC-Trans k-NN transformer layers
      "temporal_layers": 4,           # WMS-Trans layers (L = 4)
      "mlp_ratio": 4.0,               # paper silent; ViT / KVT
      "qkv_bias": True,               # paper silent; KVT
      "spatial_knn": 0.7,             # k of k-NN attention: fraction of tokens (MotionRGBD int(0.7 n)) or int
      "temporal_knn": 0.7,            # the temporal transformers are KVT-based too (§I); 0 = dense
      "temporal_block": "wms",        # wms (shared weights) | vanilla (scale t only, Table VI) | unshared (BM)
      "temporal_scales": (1, 2, 4),   # lengths t, t/2, t/4 (§III-D2)
      "temporal_downsample": "avg",   # how t/s is formed: avg of s adjacent steps | stride (every s-th)
      "temporal_fuse": "mean",        # scales repeated back to t, then mean | max | sum (parameter-free)
      "temporal_tokens": "position",  # position (one sequence per H x W position) | pooled (frame mean, broadcast)
      "residual": True,               # Table V: stage output = MSC output + its transformers' output
      "bn_momentum": 0.99,            # I3D's BatchNorm (torch momentum 0.01, eps 1e-3)
      "bn_eps": 1e-3,
      "ln_eps": 1e-5,                 # torch's LayerNorm default
      "head_hidden": 0,               # MLP head: LN [-> Linear(head_hidden) -> GELU] -> Linear; 0 = LN + Linear
      "dropout": 0.0,                 # before the classifier (paper silent)
      "fusion_weights": RGB_DEPTH_WEIGHTS,  # modality=rgbd: RGB : depth logit weights
  })
  apply_size(m, size)
  return m


def apply_size(m: config_lib.ConfigDict, size: str) -> None:
  if size == "base":
    m.num_stages = 3
  elif size == "large":
    m.num_stages = 4
  elif size == "bm":  # §IV-A: no CDC, no residual, no weight sharing; stages as Base
    m.update(num_stages=3, stem="vanilla", residual=False, temporal_block="unshared")
  else:
    raise config_lib.ConfigError(f"size={size!r}; use base | large | bm")


def _modalities(name: str) -> tuple[str, ...]:
  table = {"rgb": ("rgb",), "depth": ("depth",), "rgbd": ("rgb", "depth")}
  if name not in table:
    raise config_lib.ConfigError(f"modality={name!r}; use rgb | depth | rgbd")
  return table[name]


def get_config(arg: str = "ntu60_xsub") -> config_lib.ConfigDict:
  variant, options = config_lib.parse_variant(arg, VARIANTS)
  own = {"modality": "rgb", "size": "base"}
  rest = []
  for opt in options:
    key, _, value = opt.partition("=")
    if key in own:
      own[key] = value
    else:
      rest.append(opt)
  dataset, protocol, classes, eval_split = _DATA[variant]
  c = config_lib.base_config()
  c.model = model_config(classes, own["size"])
  c.data.update(dataset=dataset, protocol=protocol, eval_split=eval_split)
  c.data.modalities = _modalities(own["modality"])
  # §IV-A: 32 frames, 224 crops (random for training, centre for test: the video pipeline's
  # train / eval crops), no flips for IsoGD (mirror-pair gestures); NTU: flips off too (paper silent).
  c.data.num_frames, c.data.image_size, c.data.flip = 32, 224, False
  c.data.shuffle_buffer = 256
  # §IV-A recipe: SGD momentum 0.9, wd 3e-4, linear warm-up to 0.01 over 3 epochs, cosine, 100 epochs.
  c.optimizer.update(name="sgd", momentum=0.9, nesterov=False, weight_decay=3e-4)
  c.schedule.update(name="warmup_cosine", base_lr=0.01, warmup_epochs=3.0)
  c.train.update(batch_size=16, num_epochs=100.0, mixup_alpha=0.8)  # MixUp (§IV-A; alpha paper silent)
  if variant == "demo":  # synthetic NTU-format RGB video; tiny widths: a CPU run of minutes
    c.data.synthetic = "ntu60_video"
    c.data.dir = os.path.expanduser("~/.cache/actionjax/demo_mfst")
    c.data.num_frames, c.data.image_size = 8, 32
    c.model.update(stem_widths=(8, 8, 16), dims=(16, 16, 16, 16), num_heads=2,
                   spatial_layers=1, temporal_layers=1,
                   inception=(((8, 8, 8, 4, 4, 4),), ((8, 8, 8, 4, 4, 4),), ((16, 8, 8, 4, 4, 4),),
                              ((16, 8, 8, 4, 4, 4),)))
    c.optimizer.weight_decay = 1e-4
    c.schedule.update(base_lr=0.1, warmup_epochs=0.0, warmup_steps=10)
    c.train.update(batch_size=16, num_epochs=0.0, num_steps=120, mixup_alpha=0.0,
                   log_every_steps=20, checkpoint_every_steps=60)
  config_lib.apply_options(c, rest)
  return c
