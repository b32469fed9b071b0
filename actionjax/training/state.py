"""The train state: one pytree that holds everything a run needs to continue exactly."""
from __future__ import annotations

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  step: jax.Array        # int32: optimizer updates applied
  params: Any            # pure dict of nnx.Param values (nnx.merge takes it)
  rest: Any              # pure dict of the other variables (BatchNorm statistics)
  opt_state: Any
  ema: Any               # EMA of params, or an empty dict when train.ema_decay == 0
  rng: jax.Array         # uint32 (2,): the run's base key; step keys are folded from it
  bad_step: jax.Array    # int32: first step with a non-finite loss or gradient, -1 while none
