"""SLnL-rFA pieces against float64 numpy written from the paper's equations, plus the model contract."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from actionjax import config as config_lib
from actionjax.layers.frequency import FrequencyAttention
from actionjax.layers.nonlocal_block import NonLocal
from actionjax.models import registry
from actionjax.models import slnl_rfa
from model_helpers import eval_forward, train_forward

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "slnl_rfa.py")


def _rngs(seed):
  # rbg keys: the eager per-shape initialiser compiles cost half of threefry's (test time only).
  return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _np(a):
  return np.asarray(a, np.float64)


def _gate(gate, avg):  # Eq. 2 with numpy: sigmoid(W1 (W2 a + b1) + b2), no hidden activation
  b, t, n = avg.shape
  h = avg.reshape(b, t * n) @ _np(gate.down.kernel[...]) + _np(gate.down.bias[...])
  z = h @ _np(gate.up.kernel[...]) + _np(gate.up.bias[...])
  return (1.0 / (1.0 + np.exp(-z))).reshape(b, t, n, 1)


def _dft2(x):
  """Eq. 1 as explicit cosine and sine sums over (t, n): returns (F_cos, F_sin)."""
  _, t, n, _ = x.shape
  u, tt = np.arange(t)[:, None], np.arange(t)[None, :]
  v, nn = np.arange(n)[:, None], np.arange(n)[None, :]
  ang = -2 * np.pi * ((u * tt / t)[:, None, :, None] + (v * nn / n)[None, :, None, :])  # u v t n
  return np.einsum("uvtn,btnc->buvc", np.cos(ang), x), np.einsum("uvtn,btnc->buvc", np.sin(ang), x)


@pytest.mark.parametrize("variant", ["rfa", "dfa", "sfa", "afa"])
def test_frequency_attention_matches_eqs_1_to_5(variant):
  b, t, n, c = 2, 6, 5, 3
  fa = FrequencyAttention(t, n, variant=variant, ratio=3, rngs=_rngs(0))
  x = np.random.default_rng(0).normal(size=(b, t, n, c)).astype(np.float32)
  f_cos, f_sin = _dft2(_np(x))
  np.testing.assert_allclose(f_cos + 1j * f_sin, np.fft.fft2(_np(x), axes=(1, 2)), atol=1e-9)
  if variant == "afa":
    amp = np.sqrt(f_cos ** 2 + f_sin ** 2)
    want = np.fft.ifft2(amp * _gate(fa.gate_amp, amp.mean(-1)), axes=(1, 2)).real
  else:
    gate_sin = fa.gate_cos if variant == "sfa" else fa.gate_sin
    m_cos, m_sin = _gate(fa.gate_cos, f_cos.mean(-1)), _gate(gate_sin, f_sin.mean(-1))  # Eq. 2
    want = np.fft.ifft2(f_cos * m_cos + 1j * f_sin * m_sin, axes=(1, 2)).real          # Eqs. 3-4
    if variant == "rfa":
      want = _np(x) + want                                                              # Eq. 5
  np.testing.assert_allclose(fa(jnp.asarray(x)), want, rtol=1e-4, atol=1e-4)


def _positions(kind, t, n):
  """Omega(i) per position i = (t, n): the positions a non-local module relates it to."""
  if kind == "temporal":
    return lambda ti, ni: [(s, ni) for s in range(t)]
  if kind == "spatial":
    return lambda ti, ni: [(ti, m) for m in range(n)]
  return lambda ti, ni: [(s, m) for s in range(t) for m in range(n)]


@pytest.mark.parametrize("kind", ["temporal", "spatial", "spatiotemporal"])
def test_nonlocal_matches_eq6_loop(kind):
  b, t, n, p, q, l = 2, 4, 3, 5, 6, 3
  mod = NonLocal(p, q, l, kind=kind, rngs=_rngs(1))
  x = np.random.default_rng(1).normal(size=(b, t, n, p)).astype(np.float32)
  assert np.all(np.asarray(mod(jnp.asarray(x))) == 0.0)  # W_w = 0 at init (§3.3)
  mod.w.kernel[...] = jax.random.normal(jax.random.key(2), (q, q))
  wphi, wpsi, wg, ww = (_np(m.kernel[...]) for m in (mod.phi, mod.psi, mod.g, mod.w))
  xs, omega = _np(x), _positions(kind, t, n)
  want = np.zeros((b, t, n, q))
  for bi in range(b):
    for ti in range(t):
      for ni in range(n):
        xi = xs[bi, ti, ni]
        aff = [np.exp((xi @ wphi) @ (xs[bi, s, m] @ wpsi)) for s, m in omega(ti, ni)]  # Eqs. 8-10
        y = sum(a * (xs[bi, s, m] @ wg) for a, (s, m) in zip(aff, omega(ti, ni))) / sum(aff)  # Eqs. 6-7
        want[bi, ti, ni] = y @ ww                                                     # Eq. 11
  np.testing.assert_allclose(mod(jnp.asarray(x)), want, rtol=1e-4, atol=1e-4)


def test_transform_network_matches_sec_3_1():
  b, t, v, d, k, n_new = 2, 3, 5, 3, 4, 7
  tr = slnl_rfa.Transform("coord_skeleton", d, v, k, n_new, rngs=_rngs(3))
  x = np.random.default_rng(3).normal(size=(b, t, v, d))
  c, ws = _np(tr.coord[...]), _np(tr.skeleton[...])
  want = np.zeros((b, t, n_new, k * d))
  for bi in range(b):
    for ti in range(t):
      s = x[bi, ti]                                   # S in R^{N x d}
      j = np.stack([c @ s[i] for i in range(v)])     # J = C J0 per joint, C in R^{Kd x d}
      want[bi, ti] = ws @ j                           # S' = W_s S, W_s in R^{N' x N}
  np.testing.assert_allclose(tr(jnp.asarray(x, jnp.float32)), want, rtol=1e-4, atol=1e-5)


def _tiny(**model):
  c = config_lib.load(f"{CONFIG}:demo")
  c.data.num_frames, c.data.num_joints, c.data.max_persons = 8, 5, 2
  c.model.update(num_classes=4, num_coords=2, num_new_joints=6, channels=(8, 8, 16),
                 kernel_sizes=(3, 3, 3), num_slnl_blocks=2, fa_ratio=4)
  c.model.update(**model)
  return c


def _x(b=3, seed=0, c=None):
  c = c or _tiny()
  shape = (b, c.data.max_persons, c.data.num_frames, c.data.num_joints, c.data.channels)
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def test_contract_and_person_symmetry():
  c = _tiny()
  model = registry.create(c, rngs=_rngs(0))
  x = _x(c=c)
  out = eval_forward(model, x)
  assert out["logits"].shape == (3, 4) and [a.shape for a in out["aux_logits"]] == [(3, 4)] * 2
  np.testing.assert_array_equal(out["logits"], eval_forward(model, x)["logits"])  # eval is deterministic
  # Persons share weights and are merged by a max: their order does not matter.
  np.testing.assert_allclose(eval_forward(model, x[:, ::-1])["logits"], out["logits"], rtol=1e-5, atol=1e-5)
  mean0 = np.asarray(model.streams[0].blocks[0].bn.mean[...])
  t1 = train_forward(model, x, jax.random.key(1))["logits"]
  t2 = train_forward(model, x, jax.random.key(2))["logits"]
  assert not np.allclose(t1, t2)  # dropout draws from the call's rngs
  assert not np.allclose(model.streams[0].blocks[0].bn.mean[...], mean0)  # train mode updates BN stats


def test_velocity_is_frame_difference():
  x = np.random.default_rng(4).normal(size=(2, 2, 5, 3, 3))
  want = np.concatenate([x[:, :, 1:] - x[:, :, :-1], np.zeros_like(x[:, :, :1])], axis=2)
  np.testing.assert_allclose(slnl_rfa.velocity(jnp.asarray(x)), want, atol=1e-6)


def test_configs():
  for variant in ("ntu60_xsub", "ntu60_xview", "kinetics_skeleton", "demo"):
    c = config_lib.load(f"{CONFIG}:{variant}")
    config_lib.validate(c)
    assert len(c.model.channels) == len(c.model.kernel_sizes)
  k = config_lib.load(f"{CONFIG}:kinetics_skeleton")
  assert k.model.channels[-2:] == (512, 512) and k.model.kernel_sizes[:2] == (5, 5)
  assert (k.data.num_joints, k.data.num_frames, k.train.batch_size) == (18, 128, 128)
  c = config_lib.load(f"{CONFIG}:ntu60_xsub,stream=bone,num_slnl_blocks=3,loss.margin=0.6")
  assert (c.data.stream, c.model.num_slnl_blocks, c.loss.margin) == ("bone", 3, 0.6)
  assert "~" not in config_lib.load(f"{CONFIG}:demo").data.dir
  with pytest.raises(config_lib.ConfigError):
    config_lib.load(f"{CONFIG}:ntu60_xsub,nonexistent=1")


def test_demo_trains_on_synthetic_data_and_loss_falls(synthetic_ntu60, tmp_path):
  """The demo config through the one trainer on genuine-format synthetic NTU data."""
  from actionjax.training import trainer
  c = config_lib.load(f"{CONFIG}:demo", [f"data.dir={synthetic_ntu60}", "train.num_steps=16",
                                         "train.log_every_steps=4"])
  trainer.train(c, str(tmp_path), quiet=True, devices=jax.devices()[:1])  # sharding: test_trainer
  hist = [json.loads(l)["train/loss"] for l in open(tmp_path / "metrics.jsonl")]
  assert len(hist) == 4 and np.all(np.isfinite(hist))
  assert np.mean(hist[-2:]) < 0.8 * np.mean(hist[:2]), hist
