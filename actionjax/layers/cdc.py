"""3D central-difference convolution (3D-CDC, Yu et al., TIP 2021; Eqs. (3)-(6), MFST).

Both variants are one vanilla convolution with a *folded* kernel: the central-difference term
`-theta * x(p0) * sum_{p_n in R} w(p_n)` only touches the sample under the kernel's centre tap,
so it is the same as subtracting `theta * sum_{p_n in R} w(p_n)` from the centre tap. No second
convolution runs; the fold is a few jnp reductions on the kernel. It is exact under any stride
and padding because x(p0) is, by definition here, the (padded) input under the centre tap.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

_DIMS = ("NDHWC", "DHWIO", "NDHWC")
VARIANTS = ("st", "t")


def centre_tap(kernel_shape: Sequence[int]) -> tuple[int, int, int]:
  """Index of the tap over p0: (k - 1) // 2 per axis. For odd k it is the middle; for even k it
  is the tap that XLA's 'SAME' padding places over output position i at stride 1 (the low pad is
  (k - 1) // 2), i.e. the 'current location' of Eq. (3)."""
  return tuple((k - 1) // 2 for k in kernel_shape[:3])


def fold_kernel(kernel: jax.Array, *, theta: float, variant: str) -> jax.Array:
  """The vanilla-conv kernel equal to the CDC operator.

  'st' (Eqs. 3-5): y = theta * sum_n w_n (x(p0 + p_n) - x(p0)) + (1 - theta) * sum_n w_n x(p0 + p_n)
                     = conv(x, w) - theta * x(p0) * sum_{all taps} w
  't'  (Eq. 6):    y = conv(x, w) - theta * x(p0) * sum_{taps at time offsets != 0 (T'')} w
  kernel: (kt, kh, kw, Cin, Cout). Sums run over the taps, per (Cin, Cout) pair.
  """
  if variant not in VARIANTS:
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
  if theta == 0:
    return kernel
  ct, ch, cw = centre_tap(kernel.shape)
  total = kernel.sum(axis=(0, 1, 2))                     # sum over Z
  if variant == "st":
    diff = total
  else:                                                  # sum over T'' = Z minus the centre slice
    diff = total - kernel[ct].sum(axis=(0, 1))
  return kernel.at[ct, ch, cw].add(-jnp.asarray(theta, kernel.dtype) * diff)


def cdc_conv3d(x: jax.Array, kernel: jax.Array, *, theta: float, variant: str,
               strides: Sequence[int] = (1, 1, 1),
               padding: str | Sequence[tuple[int, int]] = "SAME") -> jax.Array:
  """3D-CDC-ST (`variant='st'`, Eqs. 3-5) or 3D-CDC-T (`variant='t'`, Eq. 6), channels-last.

  x: (B, T, H, W, Cin); kernel: (kt, kh, kw, Cin, Cout); strides and padding as in
  `lax.conv_general_dilated` ('SAME', 'VALID' or three explicit (low, high) pairs). x(p0) is the
  padded input under the centre tap `(k - 1) // 2` of each axis (see `centre_tap`); when that
  sample lies in the zero padding the difference term vanishes there, as the equations give.
  theta = 0 returns exactly `lax.conv_general_dilated(x, kernel, ...)` (Table IV's vanilla 3D).

  A kernel with kt = 1 has no temporal difference: 'st' then is the 2D (spatial) central
  difference applied frame by frame (for a 1x1x1 kernel it reduces to (1 - theta) x the vanilla
  conv, since x(p0 + p_n) = x(p0)); 't' is exactly the vanilla conv, T'' being empty. (The 3DCDC
  reference code returns the vanilla conv for kt = 1 in both variants; MFST's stem therefore uses
  CDC only on its kt = 3 convolutions, see actionjax/models/mfst.py.)
  """
  folded = fold_kernel(kernel, theta=theta, variant=variant)
  if not isinstance(padding, str):
    padding = tuple(tuple(int(v) for v in p) for p in padding)
  return lax.conv_general_dilated(x, folded, window_strides=tuple(strides), padding=padding,
                                  dimension_numbers=_DIMS)
