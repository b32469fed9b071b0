"""MFST layers: central-difference convolution (Eqs. 3-6) against a float64 numpy loop over kernel
taps written as the equations read, and k-NN attention (KVT) masks."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from actionjax.layers import attention
from actionjax.layers.cdc import cdc_conv3d

jax.config.update("jax_enable_x64", False)


def _pads(n, k, s, padding, axis):
  if padding == "VALID":
    return 0, 0
  if padding == "SAME":  # XLA / TF: out = ceil(n / s), the odd pad goes at the end
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2
  return padding[axis]


def reference_cdc(x, w, theta, variant, strides, padding):
  """Eqs. (3)-(6) literally: y_3D(p0) = sum_n w(p_n) x(p0 + p_n); y_CDC-ST(p0) = sum_n w(p_n)
  (x(p0 + p_n) - x(p0)); ST = theta y_CDC-ST + (1 - theta) y_3D; T = y_3D + theta (-x(p0)
  sum_{p_n in T''} w(p_n)). p0 = the input position under the centre tap (k - 1) // 2."""
  x, w = x.astype(np.float64), w.astype(np.float64)
  ks = w.shape[:3]
  pads = [_pads(x.shape[1 + a], ks[a], strides[a], padding, a) for a in range(3)]
  xp = np.pad(x, [(0, 0)] + [tuple(p) for p in pads] + [(0, 0)])
  out = [(xp.shape[1 + a] - ks[a]) // strides[a] + 1 for a in range(3)]
  centre = [(k - 1) // 2 for k in ks]

  def window(offsets):  # xp[p0 + p_n] for every output position, p_n given as tap offsets
    sl = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offsets, out, strides))
    return xp[(slice(None),) + sl]

  x0 = window(centre)  # x(p0)
  y3d = np.zeros(x.shape[:1] + tuple(out) + w.shape[-1:])
  ycdc = np.zeros_like(y3d)
  yt = np.zeros_like(y3d)
  for tap in itertools.product(*[range(k) for k in ks]):
    wn = w[tap]
    y3d += window(tap) @ wn
    ycdc += (window(tap) - x0) @ wn
    if tap[0] != centre[0]:  # p_n in T'': the adjacent time steps
      yt += -x0 @ wn
  if variant == "st":
    return theta * ycdc + (1 - theta) * y3d
  return y3d + theta * yt


CASES = [  # (input T, H, W), kernel, strides, padding
    ((5, 7, 7), (3, 3, 3), (1, 1, 1), "SAME"),          # odd sizes
    ((6, 8, 8), (3, 3, 3), (2, 2, 2), "SAME"),          # even sizes, stride 2 (asymmetric SAME)
    ((5, 9, 8), (3, 7, 7), (1, 2, 2), "SAME"),          # the stem's first conv shape
    ((6, 7, 8), (3, 3, 3), (2, 2, 1), ((1, 0), (2, 1), (0, 2))),  # explicit, uneven pads
    ((4, 6, 6), (2, 2, 2), (1, 1, 1), "SAME"),          # even kernel: centre tap (k - 1) // 2
    ((6, 8, 7), (3, 3, 3), (2, 2, 2), "VALID"),
    ((5, 6, 6), (1, 3, 3), (1, 2, 2), "SAME"),          # kt = 1
]


@pytest.mark.parametrize("variant", ["st", "t"])
@pytest.mark.parametrize("shape,ks,strides,padding", CASES)
def test_cdc_matches_the_equations(variant, shape, ks, strides, padding):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, *shape, 3)).astype(np.float32)
  w = rng.normal(size=(*ks, 3, 4)).astype(np.float32)
  theta = 0.6
  y = np.asarray(cdc_conv3d(jnp.asarray(x), jnp.asarray(w), theta=theta, variant=variant,
                            strides=strides, padding=padding))
  ref = reference_cdc(x, w, theta, variant, strides, padding)
  assert y.shape == ref.shape
  np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-4)
  plain = reference_cdc(x, w, 0.0, variant, strides, padding)
  if variant == "t" and ks[0] == 1:
    np.testing.assert_allclose(y, plain, rtol=1e-5, atol=1e-4)  # T'' empty: vanilla conv
  else:
    assert np.abs(ref - plain).max() > 0.1  # the difference term acts


@pytest.mark.parametrize("variant", ["st", "t"])
def test_theta_zero_is_the_vanilla_conv(variant):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(1, 6, 8, 8, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 3, 3, 3, 5)), jnp.float32)
  for strides, padding in [((1, 1, 1), "SAME"), ((2, 2, 2), ((1, 1), (0, 1), (1, 0)))]:
    y = cdc_conv3d(x, w, theta=0.0, variant=variant, strides=strides, padding=padding)
    ref = lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    np.testing.assert_array_equal(np.asarray(y), np.asarray(ref))


def test_cdc_is_one_convolution():
  """The fold costs no second convolution: the jaxpr holds exactly one conv."""
  x = jnp.zeros((1, 4, 8, 8, 3))
  w = jnp.ones((3, 3, 3, 3, 4))
  text = str(jax.make_jaxpr(lambda x, w: cdc_conv3d(x, w, theta=0.6, variant="st"))(x, w))
  assert text.count("conv_general_dilated") == 1


# ---------------------------------------------------------------- k-NN attention (KVT)

def test_knn_mask_keeps_exactly_k_per_row():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(2, 3, 5, 17)), jnp.float32)  # (B, H, Lq, Lk)
  for k, expected in [(4, 4), (17, 17), (0.7, 11), (1.0, 17), (100, 17)]:
    mask = np.asarray(attention.knn_mask(logits, k))
    assert (mask.sum(-1) == expected).all(), (k, mask.sum(-1))
    # the kept entries are the largest ones
    kept_min = np.where(mask, np.asarray(logits), np.inf).min(-1)
    dropped_max = np.where(mask, -np.inf, np.asarray(logits)).max(-1)
    assert (kept_min > dropped_max).all()


def test_knn_ties_at_the_threshold_are_all_kept():
  logits = jnp.asarray([[3.0, 1.0, 1.0, 1.0, 0.0]])
  mask = np.asarray(attention.knn_mask(logits, 2))
  np.testing.assert_array_equal(mask, [[True, True, True, True, False]])


def test_knn_weights_equal_dense_when_k_is_all_and_renormalise_otherwise():
  rng = np.random.default_rng(2)
  q = jnp.asarray(rng.normal(size=(2, 9, 4, 8)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(2, 9, 4, 8)), jnp.float32)
  dense = attention.attention_weights(q, k)
  np.testing.assert_allclose(attention.knn_attention_weights(q, k, 9), dense, atol=1e-7)
  np.testing.assert_allclose(attention.knn_attention_weights(q, k, 1.0), dense, atol=1e-7)
  a = np.asarray(attention.knn_attention_weights(q, k, 3))
  assert ((a > 0).sum(-1) == 3).all()
  np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-6)


def test_knn_self_attention_module():
  from flax import nnx
  m = attention.KNNSelfAttention(16, num_heads=4, topk=0.5, rngs=nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(3).normal(size=(3, 10, 16)), jnp.float32)
  y = m(x)
  assert y.shape == (3, 10, 16)
  dense = attention.KNNSelfAttention(16, num_heads=4, topk=0, rngs=nnx.Rngs(0))
  every = attention.KNNSelfAttention(16, num_heads=4, topk=10, rngs=nnx.Rngs(0))
  np.testing.assert_allclose(every(x), dense(x), atol=1e-6)
  assert np.abs(np.asarray(y) - np.asarray(dense(x))).max() > 1e-3
