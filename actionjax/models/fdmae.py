"""FD-MAE (Liu et al., "Frequency Decoupled Masked Auto-encoder for Self-supervised Skeleton-based
Action Recognition"): registers 'fdmae_pretrain' (§II) and 'fdmae_classifier' (§III-B), and the
EMA update of the dual-path target network (Eq. 1).

Files: fdmae_encoder.py (MAMP encoder), fdmae_sfr.py (SSFRM, §II-C), fdmae_pretrain.py (Eqs. 2-7),
fdmae_classifier.py (heads), layers/masking.py (§II-B), layers/dct.py (Eqs. 4-5).
"""
from __future__ import annotations

from typing import Any

import jax

from actionjax.models.fdmae_classifier import FDMAEClassifier
from actionjax.models.fdmae_pretrain import FDMAEPretrain, motion, patchify

__all__ = ["FDMAEClassifier", "FDMAEPretrain", "ema_update", "motion", "patchify"]


def ema_update(target_params: Any, online_params: Any, gamma: float) -> Any:
  """Eq. 1: theta_tar <- gamma * theta_tar + (1 - gamma) * theta_on, leaf by leaf (the trainer's
  EMA with train.ema_decay = gamma does the same after every optimizer step)."""
  return jax.tree.map(lambda t, o: gamma * t + (1.0 - gamma) * o, target_params, online_params)
