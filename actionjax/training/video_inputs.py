"""Video batches cross to the device as uint8 / uint16 (design.md: 4x less host memory and
transfer than float32) and are normalised here, inside the jitted step, from the config:
RGB `(x / 255 - rgb_mean) / rgb_std`, depth `(x / depth_max - depth_mean) / depth_std`."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from actionjax.config import ConfigDict


def input_channels(config: ConfigDict) -> int:
  """Channels of a video batch: 3 for RGB plus 1 for depth (RGB first), from data.modalities."""
  from data_pipelines.video_records import modalities_of  # TF-free module
  modalities = modalities_of(config.data.modalities)
  return 3 * ("rgb" in modalities) + ("depth" in modalities)


def normalize(inputs: jax.Array, data: ConfigDict) -> jax.Array:
  """(B, T, H, W, C) integers -> float32; channels: RGB (3) then depth (1), as in data.modalities."""
  from data_pipelines.video_records import modalities_of  # TF-free module
  modalities = modalities_of(data.modalities)
  x = inputs.astype(jnp.float32)
  parts, c = [], 0
  if "rgb" in modalities:
    mean, std = jnp.asarray(data.rgb_mean, jnp.float32), jnp.asarray(data.rgb_std, jnp.float32)
    parts.append((x[..., :3] / 255.0 - mean) / std)
    c = 3
  if "depth" in modalities:
    if data.depth_max <= 0:
      raise ValueError("data.depth_max is unresolved; the trainer sets it from dataset_info.json")
    parts.append((x[..., c:c + 1] / data.depth_max - data.depth_mean) / data.depth_std)
  return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def model_inputs(inputs: jax.Array, config: ConfigDict) -> jax.Array:
  """What the model sees: video normalised to float32; skeleton batches pass unchanged."""
  return normalize(inputs, config.data) if config.data.modalities else inputs
