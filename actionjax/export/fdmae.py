"""FD-MAE export: NNX state -> the PyTorch mirror (actionjax/export/torch_models/fdmae.py) and MAMP's
evaluation model (mamp_interop.md). Both use MAMP's key names, so one key map serves both.

Layouts: Dense kernel (in, out) -> weight (out, in); Conv kernel (t, 1, C, D) HWIO -> (D, C, t, 1)
OIHW; embeddings, LayerNorm and BatchNorm vectors unchanged. BatchNorm's running_var is exported as
tracked: flax and torch both normalise with the stored value at eval time, so the logits agree; only
the update rule differs (flax averages the biased batch variance, torch the unbiased one), which
matters only if the statistics are trained further. num_batches_tracked is not tracked by flax and is
exported as 0 (unused with momentum=0.1).
"""
from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from actionjax.models.fdmae_encoder import model_dims


def _np(v) -> np.ndarray:
  return np.array(v[...], dtype=np.float32)  # a writable copy (torch.from_numpy needs one)


def _linear(out: dict, key: str, layer: nnx.Linear) -> None:
  out[f"{key}.weight"] = _np(layer.kernel).T.copy()
  out[f"{key}.bias"] = _np(layer.bias)


def _norm(out: dict, key: str, layer) -> None:
  out[f"{key}.weight"] = _np(layer.scale)
  out[f"{key}.bias"] = _np(layer.bias)


def mamp_state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """MAMP key names and shapes: encoder keys for both models; the classifier adds its head.
  For depth 8, dim 256, 60 classes: 104 keys (linear probe) / 111 keys (fine-tune)."""
  out: dict[str, np.ndarray] = {
      "temp_embed": _np(model.temp_embed),
      "pos_embed": _np(model.pos_embed),
      "joints_embed.proj.weight": _np(model.joints_embed.proj.kernel).transpose(3, 2, 0, 1).copy(),
      "joints_embed.proj.bias": _np(model.joints_embed.proj.bias),
  }
  for i, blk in enumerate(model.blocks):
    p = f"blocks.{i}"
    _norm(out, f"{p}.norm1", blk.norm1)
    _linear(out, f"{p}.attn.qkv", blk.attn.qkv)
    _linear(out, f"{p}.attn.proj", blk.attn.proj)
    _norm(out, f"{p}.norm2", blk.norm2)
    _linear(out, f"{p}.mlp.fc1", blk.mlp.fc1)
    _linear(out, f"{p}.mlp.fc2", blk.mlp.fc2)
  _norm(out, "norm", model.norm)
  head = getattr(model, "head", None)
  if head is None:
    return out
  if model.head_type == "linear":
    _linear(out, "head.fc", head.fc)
  else:
    _linear(out, "head.fc1", head.fc1)
    _norm(out, "head.bn", head.bn)
    out["head.bn.running_mean"] = _np(head.bn.mean)
    out["head.bn.running_var"] = _np(head.bn.var)
    out["head.bn.num_batches_tracked"] = np.zeros((), np.int64)
    _linear(out, "head.fc2", head.fc2)
  return out


def state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """The mirror's state_dict (the mirror uses MAMP's names, so this equals `mamp_state_dict`)."""
  return mamp_state_dict(model, config)




def torch_model(config: ml_collections.ConfigDict):
  """An eval-mode mirror for `config`: the classifier, or the bare encoder for 'fdmae_pretrain'."""
  from actionjax.export.torch_models.fdmae import FDMAEClassifier
  dims, m, d = model_dims(config), config.model, config.data
  pretrain = m.name == "fdmae_pretrain"
  net = FDMAEClassifier(
      num_classes=m.num_classes, channels=d.channels, dim=dims["dim"], depth=dims["depth"],
      num_heads=dims["num_heads"], mlp_ratio=dims["mlp_ratio"],
      num_frames=d.num_frames // 2 if pretrain else d.num_frames, num_joints=d.num_joints,
      t_patch=dims["t_patch"], head=None if pretrain else m.get("head", "linear"),
      head_hidden=m.get("head_hidden", 2048), head_dropout=m.get("head_dropout", 0.3))
  return net.eval()


def load_torch(model: nnx.Module, config: ml_collections.ConfigDict):
  """`torch_model(config)` with `state_dict(model, config)` loaded strictly."""
  import torch
  net = torch_model(config)
  net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state_dict(model, config).items()},
                      strict=True)
  return net
