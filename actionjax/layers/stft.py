"""The depthwise STFT layer of the X-STFT networks (Kumawat et al., "Depthwise Spatio-Temporal STFT
Convolutional Neural Networks for Human Action Recognition", Sec. 3.1-3.2, Eqs. 2-9).

Each input channel's local n x n x n (3D), 1 x n x n (2D spatial) or n x 1 x 1 (1D temporal)
neighbourhood is transformed at K fixed low frequencies (Eq. 2):

    F(v, x) = sum_{y in N_x} f(y) exp(-j 2 pi v^T (x - y)),   k = 1 / n,

and every channel becomes 2K channels [Re F(v1), Im F(v1), ..., Re F(vK), Im F(vK)] (Eq. 7).
Frequency vectors are (t, h, w) ordered: 3D uses Fig. 3's list (K = 13), 2D Sec. 3.2's four
(h, w) vectors (K = 4), 1D the single v = [k] (K = 1). Zero padding keeps the size.

The kernels are numpy constants built once per (variant, n) and applied with one
`lax.conv_general_dilated(..., feature_group_count=C)`: they are not parameters, so they are in no
parameter tree, optimizer state, checkpoint or parameter count. `impl="shift"` (or `auto` on CPU)
computes the same numbers as a sum of shifted products (`depthwise_shift`): XLA:CPU's grouped
convolutions and their gradients are slow (benchmarks/README.md, X-STFT).

Odd n (the paper's n = 2r + 1) centres the window. An even n has no centre; the window then spans
offsets y - x in [-(n - 1) // 2, n // 2], the split of XLA's SAME padding (more at the end).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

VARIANTS = ("st", "s", "t")


def frequencies(variant: str) -> np.ndarray:
  """(K, 3) frequency vectors in units of k = 1/n, (t, h, w) order (zero on a fixed axis)."""
  if variant == "st":  # Fig. 3, v1 ... v13
    return np.array([[1, 0, 0], [1, 0, 1], [1, 0, -1], [0, 1, 0], [0, 1, 1], [0, 1, -1],
                     [1, 1, 0], [1, 1, 1], [1, 1, -1], [1, -1, 0], [1, -1, 1], [1, -1, -1],
                     [0, 0, 1]], np.float64)
  if variant == "s":  # Sec. 3.2: [k, 0], [0, k], [k, k], [k, -k] over (h, w)
    return np.array([[0, 1, 0], [0, 0, 1], [0, 1, 1], [0, 1, -1]], np.float64)
  if variant == "t":
    return np.array([[1, 0, 0]], np.float64)
  raise ValueError(f"STFT variant {variant!r} is not one of {', '.join(VARIANTS)}")


def window(variant: str, n: int) -> tuple[int, int, int]:
  """Kernel shape (kt, kh, kw) of a variant."""
  return {"st": (n, n, n), "s": (1, n, n), "t": (n, 1, 1)}[variant]


def num_frequencies(variant: str) -> int:
  return len(frequencies(variant))


def offsets(size: int) -> np.ndarray:
  """Tap offsets y - x of a window of `size` taps (the XLA SAME split for even sizes)."""
  return np.arange(size) - (size - 1) // 2


@functools.lru_cache(maxsize=None)
def kernel(variant: str, n: int = 3) -> np.ndarray:
  """Float32 (kt, kh, kw, 1, 2K): kernel[o] for tap offset o = y - x is exp(-j 2 pi v.(x - y)),
  i.e. Re = cos(2 pi v.o / n), Im = sin(2 pi v.o / n); channel 2m is Re v_{m+1}, 2m + 1 Im."""
  if n < 1:
    raise ValueError(f"STFT window n={n} must be positive")
  shape = window(variant, n)
  o = np.stack(np.meshgrid(*[offsets(s) for s in shape], indexing="ij"), axis=-1)  # (kt, kh, kw, 3)
  phase = 2 * np.pi * np.einsum("thwd,kd->thwk", o.astype(np.float64), frequencies(variant)) / n
  w = np.stack([np.cos(phase), np.sin(phase)], axis=-1).reshape(*shape, 1, -1)
  w.setflags(write=False)
  return w.astype(np.float32)


def padding(shape: tuple[int, ...]) -> list[tuple[int, int]]:
  """Explicit zero padding that keeps the size (XLA SAME: the extra tap at the end)."""
  return [((s - 1) // 2, s // 2) for s in shape]


def depthwise_shift(x: jax.Array, w: jax.Array) -> jax.Array:
  """A stride-1, SAME-padded depthwise conv as a sum of shifted products: x (B, T, H, W, C), w
  (kt, kh, kw, 1, C * m) -> (B, T, H, W, C * m), output channel c * m + j from input channel c
  (feature_group_count=C's layout). XLA:CPU lowers a grouped conv's weight gradient to a dense
  C x C convolution (and its input gradient slowly); this form's gradients are elementwise
  products and reductions."""
  kt, kh, kw = w.shape[:3]
  m = w.shape[-1] // x.shape[-1]
  if m > 1:
    x = jnp.repeat(x, m, axis=-1)
  xp = jnp.pad(x, [(0, 0)] + padding((kt, kh, kw)) + [(0, 0)])
  t, h, wd = x.shape[1:4]
  out = None
  for a in range(kt):
    for b in range(kh):
      for c in range(kw):
        term = xp[:, a:a + t, b:b + h, c:c + wd, :] * w[a, b, c, 0]
        out = term if out is None else out + term
  return out


def use_shift(impl: str) -> bool:
  """`auto` picks the shifted-product form on CPU, the grouped convolution elsewhere."""
  if impl not in ("auto", "conv", "shift"):
    raise ValueError(f"depthwise implementation {impl!r}: use auto, conv or shift")
  return impl == "shift" or (impl == "auto" and jax.default_backend() == "cpu")


def depthwise_stft(x: jax.Array, *, variant: str, n: int = 3, impl: str = "conv") -> jax.Array:
  """x (B, T, H, W, C) -> (B, T, H, W, C * 2K); output channel c * 2K + i is channel c's i-th
  entry of Eq. 7's [Re v1, Im v1, ..., Re vK, Im vK]. Fixed kernels, zero padding, stride 1.
  impl: conv (one grouped lax.conv_general_dilated), shift (`depthwise_shift`), auto."""
  w = kernel(variant, n)
  c = x.shape[-1]
  if use_shift(impl):
    return depthwise_shift(x, jnp.asarray(np.tile(w, (1, 1, 1, 1, c)), dtype=x.dtype))
  rhs = jnp.asarray(np.tile(w, (1, 1, 1, 1, c)), dtype=x.dtype)  # (kt, kh, kw, 1, C * 2K)
  return lax.conv_general_dilated(x, rhs, window_strides=(1, 1, 1), padding=padding(w.shape[:3]),
                                  dimension_numbers=("NDHWC", "DHWIO", "NDHWC"), feature_group_count=c)


def summed_stft(x: jax.Array, *, variant: str = "st", n: int = 3) -> jax.Array:
  """ReLPV's non-depthwise STFT (LP-3DCNN, CVPR 2019): Eq. 2 on the channel sum, (B, T, H, W, C)
  -> (B, T, H, W, 2K): the same fixed kernel applied to every input channel and summed."""
  w = kernel(variant, n)
  c = x.shape[-1]
  rhs = jnp.asarray(np.tile(w, (1, 1, 1, c, 1)), dtype=x.dtype)  # (kt, kh, kw, C, 2K)
  return lax.conv_general_dilated(x, rhs, window_strides=(1, 1, 1), padding=padding(w.shape[:3]),
                                  dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
