"""optimizer.dampening: the SGD chain against torch.optim.SGD itself, step by step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import tiny_data
from actionjax.training import optim


@pytest.mark.parametrize("momentum,dampening,nesterov,wd", [
    (0.9, 0.9, False, 1e-3),  # the X-STFT recipe (Sec. 5.2)
    (0.9, 0.5, False, 0.0),
    (0.9, 0.0, True, 1e-2),   # dampening 0: the existing optax.trace path, still torch's numbers
])
def test_sgd_matches_torch_sgd_over_steps(momentum, dampening, nesterov, wd):
  c = tiny_data.config("/unused")
  c.schedule.update(name="constant", base_lr=0.1, warmup_steps=0, warmup_epochs=0.0)
  c.optimizer.update(name="sgd", momentum=momentum, dampening=dampening, nesterov=nesterov,
                     weight_decay=wd, decay_mask="all")
  rng = np.random.default_rng(0)
  p0 = rng.normal(size=(3, 4)).astype(np.float32)
  params = {"w": jnp.asarray(p0)}
  tx = optim.make(c, params, optim.schedule(c, 1, 10))
  state = tx.init(params)
  tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
  topt = torch.optim.SGD([tp], lr=0.1, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=wd)
  update = jax.jit(tx.update)
  for _ in range(6):
    g = rng.normal(size=p0.shape).astype(np.float32)
    upd, state = update({"w": jnp.asarray(g)}, state, params)
    params = jax.tree.map(lambda a, u: a + u, params, upd)
    tp.grad = torch.from_numpy(g.copy())
    topt.step()
    np.testing.assert_allclose(np.asarray(params["w"]), tp.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_first_step_is_undampened_and_nesterov_needs_no_dampening():
  t = optim.torch_momentum(0.9, 0.9)
  s = t.init({"w": jnp.zeros(2)})
  u, s = t.update({"w": jnp.array([1.0, 2.0])}, s)
  np.testing.assert_allclose(u["w"], [1.0, 2.0])           # buf = g on the first step
  u, s = t.update({"w": jnp.array([1.0, 2.0])}, s)
  np.testing.assert_allclose(u["w"], [0.9 + 0.1, 1.8 + 0.2], rtol=1e-6)  # 0.9 buf + 0.1 g
  with pytest.raises(ValueError, match="Nesterov"):
    optim.torch_momentum(0.9, 0.9, nesterov=True)
