"""Token masking for skeleton MAEs: FD-MAE's multi-tube masking (§II-B) and MAE's random masking.

Tokens form a (T_tok, V) grid (T_tok temporal patches x V joints). Masks are returned as the
indices of the visible tokens in the flattened grid, sorted (so a static count of tokens reaches
the encoder), and a boolean `masked` grid.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def num_masked_joints(num_joints: int, ratio: float) -> int:
  """K of §II-B: joints masked in each tube (88% of 25 -> 22, Table V)."""
  k = int(round(ratio * num_joints))
  if not 0 < k < num_joints:
    raise ValueError(f"mask ratio {ratio} masks {k} of {num_joints} joints; need 0 < K < V")
  return k


def tube_mask(key: jax.Array, batch: int, num_tokens_t: int, num_joints: int, ratio: float,
              tube_len: int) -> tuple[jax.Array, jax.Array]:
  """Multi-tube masking (FD-MAE §II-B): the T_tok token steps are cut into ceil(T_tok / tube_len)
  tubes; per sequence and tube, K = round(ratio * V) joints drawn uniformly without replacement are
  masked at every step of the tube. `tube_len` counts tokens (a token spans t_patch frames), so
  Table VI's lengths 2, 3, 5 all divide MAMP's 30 token steps; a shorter last tube is allowed.

  Returns (keep_idx (batch, T_tok * (V - K)) int32, masked (batch, T_tok, V) bool).
  """
  k = num_masked_joints(num_joints, ratio)
  num_tubes = -(-num_tokens_t // tube_len)
  noise = jax.random.uniform(key, (batch, num_tubes, num_joints))
  # Rank of each joint's noise within its tube: the K smallest are masked.
  rank = jnp.argsort(jnp.argsort(noise, axis=-1), axis=-1)
  tube_masked = rank < k
  masked = jnp.repeat(tube_masked, tube_len, axis=1)[:, :num_tokens_t]
  return _keep_indices(masked, num_tokens_t * (num_joints - k)), masked


def random_mask(key: jax.Array, batch: int, num_tokens_t: int, num_joints: int,
                ratio: float) -> tuple[jax.Array, jax.Array]:
  """MAE's uniform random token masking (He et al. 2022): round(ratio * T_tok * V) tokens, no tube
  structure (FD-MAE Table IV without multi-tube masking)."""
  n = num_tokens_t * num_joints
  k = int(round(ratio * n))
  if not 0 < k < n:
    raise ValueError(f"mask ratio {ratio} masks {k} of {n} tokens")
  rank = jnp.argsort(jnp.argsort(jax.random.uniform(key, (batch, n)), axis=-1), axis=-1)
  masked = (rank < k).reshape(batch, num_tokens_t, num_joints)
  return _keep_indices(masked, n - k), masked


def _keep_indices(masked: jax.Array, num_keep: int) -> jax.Array:
  flat = masked.reshape(masked.shape[0], -1)
  # Stable argsort puts the visible (False) tokens first, in their original order.
  return jnp.argsort(flat, axis=-1, stable=True)[:, :num_keep].astype(jnp.int32)
