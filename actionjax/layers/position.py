"""Fixed position encodings (sine/cosine, Vaswani et al. 2017, §3.5), shared by the models."""
from __future__ import annotations

import numpy as np


def sinusoidal_table(length: int, dim: int, base: float = 10000.0) -> np.ndarray:
  """(length, dim) float32 table: PE[p, 2i] = sin(p / base^(2i/dim)), PE[p, 2i+1] = cos(...).

  Built in numpy at trace time, so it is a constant of the compiled program; callers cast it to
  their compute dtype. An odd `dim` drops the last cosine column.
  """
  pos = np.arange(length, dtype=np.float64)[:, None]
  freq = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
  table = np.zeros((length, dim), np.float64)
  table[:, 0::2] = np.sin(pos * freq)
  table[:, 1::2] = np.cos(pos * freq)[:, :dim // 2]
  return table.astype(np.float32)
