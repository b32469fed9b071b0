"""Helpers shared by model tests: randomised weights and jitted eval/train forwards."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from actionjax.models import registry


def random_model(config, seed=0):
  """The model's structure with numpy-drawn values (fan-in scaled kernels, random BN affine and
  statistics), so parity tests exercise every parameter, not just initialiser defaults."""
  gd, state = nnx.split(nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0))))
  rng = np.random.default_rng(seed)

  def init(path, leaf):
    name = jax.tree_util.keystr(path)
    if "['kernel']" in name:
      x = rng.normal(size=leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1]))
    elif "['var']" in name or "['scale']" in name:
      x = rng.uniform(0.5, 1.5, leaf.shape)
    else:
      x = 0.1 * rng.normal(size=leaf.shape)
    return jnp.asarray(x, leaf.dtype)

  return nnx.merge(gd, jax.tree_util.tree_map_with_path(init, state))


@nnx.jit
def eval_forward(model, x):
  return model(x)


@nnx.jit
def train_forward(model, x, key):
  return model(x, train=True, rngs=nnx.Rngs(dropout=key))
