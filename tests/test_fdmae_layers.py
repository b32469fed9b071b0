"""Multi-tube masking (FD-MAE §II-B) and the DCT band split of Eqs. 4-5."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.fft

from actionjax.layers import dct, masking


def _check_keep(keep, masked):
  keep, masked = np.asarray(keep), np.asarray(masked).reshape(masked.shape[0], -1)
  for row_keep, row_masked in zip(keep, masked):
    np.testing.assert_array_equal(row_keep, np.flatnonzero(~row_masked))  # sorted, exactly the visible


def test_tube_mask_ratio_and_tubes():
  keep, masked = masking.tube_mask(jax.random.key(0), 6, 10, 25, 0.88, 3)
  masked = np.asarray(masked)
  assert masked.shape == (6, 10, 25) and keep.shape == (6, 10 * 3)
  np.testing.assert_array_equal(masked.sum(-1), 22)  # K = 22 of 25 joints at every token step
  assert masked.mean() == pytest.approx(0.88)
  for start in range(0, 10, 3):  # tubes [0,3), [3,6), [6,9), [9,10): same joints at every step
    tube = masked[:, start:start + 3]
    assert (tube == tube[:, :1]).all()
  _check_keep(keep, masked)


def test_tube_mask_tubes_independent_and_uniform():
  _, masked = masking.tube_mask(jax.random.key(1), 4000, 6, 25, 0.88, 3)
  masked = np.asarray(masked, np.float64)
  a, b = masked[:, 0], masked[:, 3]  # two different tubes
  assert (a != b).any(axis=-1).mean() > 0.9  # tubes draw their own joints
  # Independence: P(joint masked in both tubes) = 0.88^2, not 0.88 (identical tubes) or less.
  assert (a * b).mean() == pytest.approx(0.88 ** 2, abs=0.01)
  np.testing.assert_allclose(a.mean(0), 0.88, atol=0.03)  # every joint equally likely
  # Different sequences of a batch get different masks.
  assert len({tuple(r) for r in masked[:50, 0].astype(int)}) > 40


def test_random_mask():
  keep, masked = masking.random_mask(jax.random.key(2), 3, 10, 25, 0.9)
  np.testing.assert_array_equal(np.asarray(masked).reshape(3, -1).sum(-1), 225)
  assert keep.shape == (3, 25)
  _check_keep(keep, masked)
  # No tube structure: consecutive steps mask different joint sets.
  m = np.asarray(masked)
  assert (m[:, 0] != m[:, 1]).any()


def test_dct_matches_scipy():
  x = np.random.default_rng(0).normal(size=(2, 40, 5, 3))
  ref = scipy.fft.dct(x, type=2, norm="ortho", axis=1)
  np.testing.assert_allclose(np.asarray(dct.dct(x.astype(np.float32))), ref, atol=2e-5)
  np.testing.assert_allclose(np.asarray(dct.idct(ref.astype(np.float32))), x, atol=2e-5)


def test_band_split():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(3, 48, 4, 3))
  cutoff = 0.25
  k = dct.cutoff_index(48, cutoff)
  assert k == 12
  high, low = (np.asarray(a, np.float64) for a in dct.band_split(x.astype(np.float32), cutoff, axis=1))
  np.testing.assert_allclose(high + low, x, atol=2e-5)  # the two targets sum to the motion
  ch = scipy.fft.dct(high, type=2, norm="ortho", axis=1)
  cl = scipy.fft.dct(low, type=2, norm="ortho", axis=1)
  np.testing.assert_allclose(ch[:, :k], 0, atol=2e-5)  # high band: nothing below the cut-off
  np.testing.assert_allclose(cl[:, k:], 0, atol=2e-5)  # low band: nothing above it
  # Brute-force float64 reference: explicit orthonormal DCT-II basis, low band = first k rows.
  n = np.arange(48)
  basis = np.cos(np.pi * np.arange(48)[:, None] * (2 * n[None] + 1) / 96) * np.sqrt(2 / 48)
  basis[0] /= np.sqrt(2)
  coeff = np.einsum("kn,bnvc->bkvc", basis, x)
  low_ref = np.einsum("kn,bkvc->bnvc", basis[:k], coeff[:, :k])
  np.testing.assert_allclose(low, low_ref, atol=2e-5)
  with pytest.raises(ValueError):
    dct.cutoff_index(48, 0.0)


def test_ssfrm_convs_match_brute_force():
  from flax import nnx
  from actionjax.models.fdmae_sfr import SSFRM, TemporalGroupConv, TemporalUpsample
  rng = np.random.default_rng(3)
  x = rng.normal(size=(2, 5, 3, 4)).astype(np.float32)  # (B, T, V, C)
  conv = TemporalGroupConv(4, 6, 3, 2, rngs=nnx.Rngs(0))
  conv.bias.set_value(rng.normal(size=6).astype(np.float32))
  w, bias = np.asarray(conv.kernel[...], np.float64), np.asarray(conv.bias[...], np.float64)
  ref = np.zeros((2, 5, 3, 6)) + bias
  for t in range(5):
    for j in range(3):  # 'SAME', kernel 3: taps t-1, t, t+1
      if 0 <= t + j - 1 < 5:
        for g in range(2):
          ref[:, t, :, 3 * g:3 * g + 3] += x[:, t + j - 1, :, 2 * g:2 * g + 2] @ w[j, g]
  np.testing.assert_allclose(np.asarray(conv(x)), ref, atol=1e-5)
  up = TemporalUpsample(4, 6, 4, rngs=nnx.Rngs(1))
  w = np.asarray(up.kernel[...], np.float64)
  ref = np.zeros((2, 20, 3, 6))
  for t in range(5):
    for j in range(4):
      ref[:, 4 * t + j] = x[:, t] @ w[j]
  np.testing.assert_allclose(np.asarray(up(x)), ref, atol=1e-5)
  # SSFRM output scales (x t_patch and x t_patch / 2), traced without running.
  high, low = jax.eval_shape(lambda z: SSFRM(4, 8, 2, 4, 3, rngs=nnx.Rngs(2))(z), x)
  assert high.shape == (2, 20, 3, 3) and low.shape == (2, 10, 3, 3)


def test_attention_looped_equals_batched():
  from flax import nnx
  from actionjax.models.fdmae_encoder import Attention
  x = np.random.default_rng(4).normal(size=(3, 7, 8)).astype(np.float32)
  a = Attention(8, 2, looped=False, rngs=nnx.Rngs(0))
  b = Attention(8, 2, looped=True, rngs=nnx.Rngs(0))
  np.testing.assert_allclose(np.asarray(a(x)), np.asarray(b(x)), atol=1e-6)
  # Against a float64 reference: softmax(q k^T / sqrt(hd)) v per head, heads contiguous in qkv.
  qkv = x.astype(np.float64) @ np.asarray(a.qkv.kernel[...], np.float64) + np.asarray(a.qkv.bias[...])
  q, k, v = (qkv[..., i * 8:(i + 1) * 8].reshape(3, 7, 2, 4).transpose(0, 2, 1, 3) for i in range(3))
  s = q @ k.transpose(0, 1, 3, 2) / 2.0
  p = np.exp(s - s.max(-1, keepdims=True))
  o = ((p / p.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(3, 7, 8)
  ref = o @ np.asarray(a.proj.kernel[...], np.float64) + np.asarray(a.proj.bias[...])
  np.testing.assert_allclose(np.asarray(a(x)), ref, atol=1e-5)


def test_looped_attention_gradients_match_float64():
  """The recomputing backward of looped_attention against autodiff of softmax(q k^T / sqrt(d)) v in
  float64 (jax.grad of the batched form, with x64 on for this check only)."""
  from actionjax.layers.looped_attention import looped_attention
  rng = np.random.default_rng(5)
  qkv = rng.normal(size=(2, 6, 3, 3, 4))  # (batch, n, q/k/v, heads, head_dim)
  w = rng.normal(size=(2, 6, 3, 4))

  def reference(qkv):
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (b, h, n, d)
    p = jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2) / 2.0, axis=-1)
    return (p @ v).transpose(0, 2, 1, 3)

  with jax.enable_x64(True):
    want_out = np.asarray(reference(qkv))
    want = np.asarray(jax.grad(lambda z: (reference(z) * w).sum())(qkv))
  x = qkv.astype(np.float32)
  np.testing.assert_allclose(np.asarray(looped_attention(x)), want_out, atol=1e-5)
  got = jax.grad(lambda z: (looped_attention(z) * w.astype(np.float32)).sum())(x)
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
