"""FD-MAE pre-training model: outputs and Eq. 7, the EMA update (Eq. 1), stop-gradient on the target
path, ablation switches, a falling loss, and the pretrain -> classifier weight mapping."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from actionjax.config import base_config
from actionjax.models import fdmae, registry

B, M, T2, V = 2, 2, 32, 25  # 16 frames per path -> 4 token steps


def _config(**model):
  c = base_config()
  c.model.name = "fdmae_pretrain"
  c.model.update(dim=16, depth=1, num_heads=2, decoder_dim=16, decoder_depth=1, decoder_heads=2,
                 sfr_dim=8, sfr_groups=2, tube_len=2)
  c.model.update(model)
  c.data.num_frames = T2
  return c


def _inputs(seed=0):
  x = np.cumsum(np.random.default_rng(seed).normal(size=(B, M, T2, V, 3)) * 0.1, axis=2)
  return jnp.asarray(x, jnp.float32)


def _params(model):
  return nnx.state(model, nnx.Param)


@pytest.fixture(scope="module")
def model():
  return registry.create(_config(), rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def split(model):
  """(graphdef, params, rest, vg): vg(params, ema_params, key) -> ((loss, outputs), (g_on, g_ema)),
  compiled once for the module (compilation dominates these tests on CPU)."""
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def fn(params, ema_params, key):
    m = nnx.merge(graphdef, params, rest)
    e = nnx.merge(graphdef, ema_params, rest)
    out = m(_inputs(), train=True, rngs=nnx.Rngs(mask=key), ema=e)
    return out["loss"].mean(), out
  return graphdef, params, rest, jax.jit(jax.value_and_grad(fn, argnums=(0, 1), has_aux=True))


def test_outputs_and_eq7(split):
  _, params, _, vg = split
  (_, out), _ = vg(params, params, jax.random.key(3))
  assert set(out) == {"loss", "loss_m", "loss_mc", "loss_mf"}
  for v in out.values():
    assert v.shape == (B,) and np.isfinite(np.asarray(v)).all()
  np.testing.assert_allclose(out["loss"], out["loss_m"] + out["loss_mc"] + out["loss_mf"], rtol=1e-6)
  assert (np.asarray(out["loss_mc"]) > 0).all() and (np.asarray(out["loss_mf"]) > 0).all()


def test_ema_update_by_hand():
  tar = {"a": np.array([1.0, 2.0]), "b": {"c": np.array([[3.0]])}}
  on = {"a": np.array([0.0, 4.0]), "b": {"c": np.array([[-1.0]])}}
  out = fdmae.ema_update(tar, on, 0.9)
  np.testing.assert_allclose(out["a"], [0.9 * 1.0 + 0.1 * 0.0, 0.9 * 2.0 + 0.1 * 4.0])
  np.testing.assert_allclose(out["b"]["c"], [[0.9 * 3.0 - 0.1]])


def test_stop_gradient_on_target_path(split):
  graphdef, params, rest, vg = split
  # A distinct EMA copy: perturb the online params.
  ema_params = jax.tree.map(lambda p: p + 0.05 * jnp.sign(p + 1e-3), params)
  (loss, out), (g_on, g_ema) = vg(params, ema_params, jax.random.key(0))
  for leaf in jax.tree.leaves(g_ema):
    assert not np.asarray(leaf).any()  # exactly zero: no gradient reaches the target network
  assert any(np.asarray(leaf).any() for leaf in jax.tree.leaves(g_on))
  # The target path does use the EMA params (L_m's target part and L_mc change with them) ...
  (_, out_same), (g_same, _) = vg(params, params, jax.random.key(0))
  assert not np.allclose(out["loss_mc"], out_same["loss_mc"])
  # ... and with ema=None the online params stand in under sg: the same gradient as an EMA copy
  # holding identical params (a target path without sg would add its own gradient here).
  def no_ema(p):
    m = nnx.merge(graphdef, p, rest)
    return m(_inputs(), train=True, rngs=nnx.Rngs(mask=jax.random.key(0)))["loss"].mean()
  g_none = jax.jit(jax.grad(no_ema))(params)
  for a, b in zip(jax.tree.leaves(g_none), jax.tree.leaves(g_same)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_looped_and_batched_attention_give_the_same_step():
  """model.attention=looped (one CPU device's default) and batched: the same losses and gradients
  for the whole pre-training model, both paths (the suite's 8 devices would pick batched)."""
  out = {}
  for form in ("looped", "batched"):
    graphdef, params, rest = nnx.split(registry.create(_config(attention=form), rngs=nnx.Rngs(0)),
                                       nnx.Param, ...)
    assert nnx.merge(graphdef, params, rest).decoder_blocks[0].attn.looped is (form == "looped")

    def fn(p):
      m = nnx.merge(graphdef, p, rest)
      return m(_inputs(), train=True, rngs=nnx.Rngs(mask=jax.random.key(5)), ema=m)["loss"].mean()
    out[form] = jax.value_and_grad(fn)(params)
  np.testing.assert_allclose(out["looped"][0], out["batched"][0], rtol=1e-6)
  for a, b in zip(jax.tree.leaves(out["looped"][1]), jax.tree.leaves(out["batched"][1])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_loss_falls_with_optax_and_ema(split):
  _, params, _, vg = split
  ema = params
  tx = optax.adamw(3e-3, b2=0.95)
  opt = tx.init(params)

  @jax.jit
  def update(params, ema, opt, g):
    updates, opt = tx.update(g, opt, params)
    params = optax.apply_updates(params, updates)
    return params, fdmae.ema_update(ema, params, 0.9), opt

  losses = []
  for i in range(25):
    (loss, _), (g, _) = vg(params, ema, jax.random.key(i % 2))
    params, ema, opt = update(params, ema, opt, g)
    losses.append(float(loss))
  assert np.isfinite(losses).all()
  assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:2]), losses


def test_ablation_switches():
  # Table IV without DP and FR: a single online path, no SSFRM, L = L_m.
  base = registry.create(_config(dual_path=False, freq_recon=False), rngs=nnx.Rngs(0))
  out = base(_inputs(), train=True, rngs=nnx.Rngs(1), ema=base)
  assert not np.asarray(out["loss_mc"]).any() and not np.asarray(out["loss_mf"]).any()
  np.testing.assert_allclose(out["loss"], out["loss_m"])
  assert not hasattr(base, "sfr")
  abstract = lambda **kw: nnx.eval_shape(lambda: registry.create(_config(**kw), rngs=nnx.Rngs(0)))
  rnd = abstract(masking="random", mask_ratio=0.9)  # Table IV without MTM: MAE random masking
  keep, masked = rnd.make_mask(jax.random.key(0), 3)
  assert keep.shape == (3, 10) and int(masked.sum()) == 3 * 90
  assert len(abstract(decoder_depth=3).decoder_blocks) == 3  # Table VII
  assert abstract(mask_ratio=0.8).make_mask(jax.random.key(0), 1)[0].shape == (1, 4 * 5)  # Table V
  with pytest.raises(ValueError):
    abstract(masking="gumbel")


def test_pretrain_to_classifier_mapping(model):
  c = _config(head="linear")
  c.model.name, c.model.num_classes, c.data.num_frames = "fdmae_classifier", 5, T2 // 2
  clf = registry.create(c, rngs=nnx.Rngs(7))
  src = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  dst = dict(nnx.to_flat_state(nnx.state(clf, nnx.Param)))
  mapped = {clf.init_key_map(p): v for p, v in src.items() if clf.init_key_map(p) is not None}
  dropped = {p[0] for p in src if clf.init_key_map(p) is None}
  assert dropped == {"decoder_embed", "mask_token", "decoder_pos_embed", "decoder_temp_embed",
                     "decoder_blocks", "decoder_norm", "decoder_pred", "sfr"}
  assert set(mapped) == {p for p in dst if p[0] != "head"}
  for p, v in mapped.items():
    assert v[...].shape == dst[p][...].shape
    dst[p].set_value(v[...])
  # The loaded classifier's features equal the pre-trained encoder's on unmasked input.
  x = _inputs()[:, :, : T2 // 2]
  feats = clf.features(x)
  ref = model.encode(x.reshape(B * M, T2 // 2, V, 3)).reshape(feats.shape)
  np.testing.assert_allclose(feats, ref, atol=1e-5)


def test_classifier_layer_index_and_drop_path():
  c = _config(head="finetune", head_hidden=8, drop_path=0.5, depth=3)
  c.model.name, c.model.num_classes, c.data.num_frames = "fdmae_classifier", 5, 16
  clf = registry.create(c, rngs=nnx.Rngs(0))
  assert clf.num_layers == 3
  assert clf.layer_index(("pos_embed",)) == 0
  assert clf.layer_index(("joints_embed", "proj", "kernel")) == 0
  assert clf.layer_index(("blocks", "2", "mlp", "fc1", "kernel")) == 3
  assert clf.layer_index(("norm", "scale")) == 4 and clf.layer_index(("head", "fc2", "kernel")) == 4
  assert [b.drop_path for b in clf.blocks] == [0.0, 0.25, 0.5]
  x = _inputs()[:, :, :16]
  a = clf(x, train=True, rngs=nnx.Rngs(1))["logits"]
  b = clf(x, train=True, rngs=nnx.Rngs(2))["logits"]
  assert not np.allclose(a, b)  # drop path / dropout draw from the call's rngs
  np.testing.assert_array_equal(clf(x)["logits"], clf(x)["logits"])
