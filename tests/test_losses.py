"""Focal / soft-margin losses (Eqs. 13-21, SLnL-rFA) against float64 numpy written from the equations."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from actionjax import config as config_lib
from actionjax import losses


def _np_pt(logits, labels):
  z = np.asarray(logits, np.float64)
  z = z - z.max(-1, keepdims=True)
  p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
  return p[np.arange(len(labels)), labels]


def _np_ce(logits, labels):
  return -np.log(_np_pt(logits, labels))


def _np_sm(logits, labels, m):  # Eq. 13
  pt = _np_pt(logits, labels)
  return np.log(np.exp(m) + (1.0 - np.exp(m)) * pt)


def _np_fl(logits, labels, gamma):  # Eq. 18
  pt = _np_pt(logits, labels)
  return -(1.0 - pt) ** gamma * np.log(pt)


def _data(seed=0, b=16, c=7, scale=3.0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(b, c)) * scale).astype(np.float32), rng.integers(0, c, size=b).astype(np.int32)


def test_cross_entropy_unchanged():
  z, y = _data()
  np.testing.assert_allclose(losses.cross_entropy(z, y), _np_ce(z, y), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m", [0.2, 0.4, 0.6])
def test_smce_is_ce_with_lowered_target_logit(m):
  z, y = _data(1)
  shifted = z.astype(np.float64).copy()
  shifted[np.arange(len(y)), y] -= m  # Eq. 17
  got = np.asarray(losses.soft_margin_cross_entropy(z, y, margin=m))
  np.testing.assert_allclose(got, _np_ce(shifted, y), rtol=1e-5, atol=1e-5)
  # ... and equals L_SM + L_CE (Eq. 14).
  np.testing.assert_allclose(got, _np_sm(z, y, m) + _np_ce(z, y), rtol=1e-5, atol=1e-5)
  assert got.shape == (len(y),)


@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.0])
def test_focal_matches_eq18(gamma):
  z, y = _data(2)
  np.testing.assert_allclose(losses.focal_loss(z, y, gamma=gamma), _np_fl(z, y, gamma), rtol=1e-5, atol=1e-6)


def test_focal_gamma0_is_ce():
  z, y = _data(3)
  np.testing.assert_allclose(losses.focal_loss(z, y, gamma=0.0), _np_ce(z, y), rtol=1e-5, atol=1e-6)


def test_smfl_matches_eq19_and_reduces_to_focal():
  z, y = _data(4)
  for gamma, m in [(2.0, 0.4), (2.0, 0.6), (3.0, 0.4)]:
    want = _np_sm(z, y, m) + _np_fl(z, y, gamma)
    np.testing.assert_allclose(losses.soft_margin_focal_loss(z, y, gamma=gamma, margin=m), want,
                               rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(losses.soft_margin_focal_loss(z, y, gamma=2.0, margin=0.0),
                             _np_fl(z, y, 2.0), rtol=1e-5, atol=1e-6)


def test_soft_margin_term_bounds():
  m = 0.4
  z, y = _data(5, b=64, scale=6.0)
  # Include near-certain right and wrong predictions (p_t -> 1 and p_t -> 0).
  z[0, :] = -50.0; z[0, y[0]] = 50.0
  z[1, :] = 50.0; z[1, y[1]] = -50.0
  sm = np.asarray(losses.soft_margin_term(z, y, margin=m))
  assert np.all(sm >= -1e-6) and np.all(sm <= m + 1e-6)
  np.testing.assert_allclose(sm, _np_sm(z, y, m), atol=1e-5)
  np.testing.assert_allclose(sm[:2], [0.0, m], atol=1e-6)  # the two ends of Eq. 13's range


@pytest.mark.parametrize("name", ["focal", "smce", "smfl"])
def test_finite_values_and_grads_at_large_logits(name):
  fn = {"focal": lambda z, y: losses.focal_loss(z, y, gamma=0.5),
        "smce": lambda z, y: losses.soft_margin_cross_entropy(z, y, margin=0.4),
        "smfl": lambda z, y: losses.soft_margin_focal_loss(z, y, gamma=2.0, margin=0.4)}[name]
  rng = np.random.default_rng(6)
  z = np.sign(rng.normal(size=(8, 5))).astype(np.float32) * 100.0
  y = rng.integers(0, 5, size=8).astype(np.int32)
  z[0] = -100.0; z[0, y[0]] = 100.0  # p_t = 1 in float32
  z[1] = 100.0; z[1, y[1]] = -100.0  # p_t ~ e^-200
  val, grad = jax.value_and_grad(lambda z: fn(z, y).sum())(jnp.asarray(z))
  assert np.all(np.isfinite(val)) and np.all(np.isfinite(grad))
  per = np.asarray(fn(z, y))
  assert np.all(np.isfinite(per)) and per[1] > 150.0  # a confidently wrong sample keeps its ~200 loss


def test_from_config_adds_aux_heads():
  c = config_lib.base_config()
  c.loss = ml_collections.ConfigDict({"name": "soft_margin_focal", "gamma": 2.0, "margin": 0.4})
  z, y = _data(7)
  za, _ = _data(8)
  zb, _ = _data(9)
  fn = losses.from_config(c)
  loss, _ = fn({"logits": z, "aux_logits": (za, zb)}, {"label": y})
  want = sum(_np_sm(a, y, 0.4) + _np_fl(a, y, 2.0) for a in (z, za, zb))  # Eqs. 20-21
  np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-5)
  for name, ref in [("focal", _np_fl(z, y, 2.0)), ("soft_margin_ce", _np_sm(z, y, 0.4) + _np_ce(z, y))]:
    c.loss.name = name
    np.testing.assert_allclose(losses.from_config(c)({"logits": z}, {"label": y})[0], ref, rtol=1e-5, atol=1e-5)
  c.train.mixup_alpha = 0.2  # soft MixUp targets would be silently ignored
  with pytest.raises(ValueError, match="mixup_alpha"):
    losses.from_config(c)
  c.loss.name = "nope"
  with pytest.raises(ValueError, match="soft_margin_focal"):
    losses.from_config(c)
