"""Frequency attention over a (T, N) pseudo-image, §3.2 and Table 5 of SLnL-rFA.

Variants (Table 5): 'rfa' residual (Eqs. 1-5), 'dfa' separate cosine/sine weights without the
residual, 'sfa' one weight set shared by the cosine and sine components, 'afa' attention on the
amplitude spectrum |Y| (the phase is dropped, which is why the paper finds it harmful).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

VARIANTS = ("rfa", "dfa", "sfa", "afa")


class _SpectrumGate(nnx.Module):
  """M = sigmoid(W1 (W2 Avg(F) + b1) + b2) over the T*N frequencies (Eq. 2)."""

  def __init__(self, size: int, ratio: int, hidden_act: str, *, rngs: nnx.Rngs):
    hidden = max(1, size // ratio)  # bottleneck with ratio lambda
    self.down = nnx.Linear(size, hidden, rngs=rngs)
    self.up = nnx.Linear(hidden, size, rngs=rngs)
    self.hidden_act = hidden_act

  def __call__(self, avg: jax.Array) -> jax.Array:
    b, t, n = avg.shape
    h = self.down(avg.reshape(b, t * n))
    if self.hidden_act == "relu":
      h = jax.nn.relu(h)
    return jax.nn.sigmoid(self.up(h)).reshape(b, t, n, 1)  # dup(.): broadcast to every channel


class FrequencyAttention(nnx.Module):
  """Frequency attention on channels-last `(B, T, N, C)`; returns the same shape.

  Y = fft2 over (T, N) per channel (Eq. 1); F_cos = Re Y, F_sin = Im Y; the masks from the
  channel averages (Eq. 2) scale them (Eqs. 3-4); X'' = X' + Re ifft2(F'_cos + j F'_sin) (Eq. 5).
  The masked spectrum is not Hermitian, so the inverse has an imaginary part: we keep the real
  part, the only part the real-valued network after it can use.
  """

  def __init__(self, num_frames: int, num_joints: int, *, variant: str = "rfa", ratio: int = 16,
               hidden_act: str = "none", rngs: nnx.Rngs):
    if variant not in VARIANTS:
      raise ValueError(f"frequency attention variant {variant!r} not in {VARIANTS}")
    self.variant = variant
    size = num_frames * num_joints
    if variant == "afa":
      self.gate_amp = _SpectrumGate(size, ratio, hidden_act, rngs=rngs)
    else:
      self.gate_cos = _SpectrumGate(size, ratio, hidden_act, rngs=rngs)
      if variant != "sfa":
        self.gate_sin = _SpectrumGate(size, ratio, hidden_act, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = x.dtype
    xf = x.astype(jnp.float32)  # FFTs in float32 even under bfloat16 training
    y = jnp.fft.fft2(xf, axes=(1, 2))
    if self.variant == "afa":
      # |Y| with a floor so the gradient stays finite where the spectrum is exactly zero.
      amp = jnp.sqrt(jnp.maximum(y.real ** 2 + y.imag ** 2, 1e-12))
      out = jnp.fft.ifft2(amp * self.gate_amp(amp.mean(-1)), axes=(1, 2)).real
      return out.astype(dtype)
    f_cos, f_sin = y.real, y.imag
    gate_sin = self.gate_cos if self.variant == "sfa" else self.gate_sin
    m_cos, m_sin = self.gate_cos(f_cos.mean(-1)), gate_sin(f_sin.mean(-1))
    out = jnp.fft.ifft2(jax.lax.complex(f_cos * m_cos, f_sin * m_sin), axes=(1, 2)).real
    if self.variant == "rfa":
      out = xf + out  # Eq. 5: residual in the spatio-temporal domain
    return out.astype(dtype)
