"""DCT-II band splitting along time for FD-MAE's frequency targets (Eqs. 4-5, FD-MAE §II-E).

F^high = iDCT(tau_up(DCT(x))), F^low = iDCT(tau_down(DCT(x))): the orthonormal DCT-II of a motion
sequence is truncated at a frequency index (the paper's "threshold"; we read it as a cut-off on the
coefficient index, the only reading under which the two bands are high and low *frequencies*) and
transformed back. With the orthonormal transform the two bands sum exactly to the input.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.fft as jfft


def dct(x: jax.Array, axis: int = 1) -> jax.Array:
  """Orthonormal DCT-II along `axis` (computed in float32, cast back)."""
  return jfft.dct(x.astype(jnp.float32), type=2, norm="ortho", axis=axis).astype(x.dtype)


def idct(x: jax.Array, axis: int = 1) -> jax.Array:
  """Inverse of `dct` (orthonormal DCT-III)."""
  return jfft.idct(x.astype(jnp.float32), type=2, norm="ortho", axis=axis).astype(x.dtype)


def cutoff_index(length: int, cutoff: float) -> int:
  """Coefficients k < cutoff_index are 'low'; `cutoff` is a fraction of the sequence length."""
  k = int(round(cutoff * length))
  if not 0 < k < length:
    raise ValueError(f"frequency cut-off {cutoff} gives index {k}, outside (0, {length})")
  return k


def band_split(x: jax.Array, cutoff: float, axis: int = 1) -> tuple[jax.Array, jax.Array]:
  """(high, low) = (iDCT(tau_up(DCT x)), iDCT(tau_down(DCT x))) along `axis` (Eqs. 4-5)."""
  n = x.shape[axis]
  k = cutoff_index(n, cutoff)
  coeff = dct(x, axis)
  shape = [1] * x.ndim
  shape[axis] = n
  low_mask = (jnp.arange(n) < k).reshape(shape)
  low = idct(jnp.where(low_mask, coeff, 0), axis)
  high = idct(jnp.where(low_mask, 0, coeff), axis)
  return high, low
