"""FG-STFormer model tests: focal joints (Eqs. 2-3), parts, JP-CA (Eq. 4), FG-TFormer (Eq. 5),
strides, A_g, configs. Models are built abstractly and filled from numpy (no per-op compiles)."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from actionjax import config as config_lib
from actionjax.layers.attention import MultiHeadAttention
from actionjax.layers.position import sinusoidal_table
from actionjax.layers.temporal import TemporalConv
from actionjax.models import fgstformer as fg
from actionjax.models import registry
from model_helpers import random_model

CONFIG = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "fgstformer.py")


def tiny_config(**model):
  c = config_lib.load(CONFIG + ":demo")
  c.model.update(dict(channels=(8, 16, 16), depths=(2, 1), num_focal=5, spatial_qk_features=(4,),
                      hidden=8, num_classes=3))
  c.model.update(model)
  return c


def abstract_apply(config, fn, *args):
  """Shapes of fn(model, *args) without compiling or allocating the model."""
  gd, state = nnx.split(nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(0))))
  return jax.eval_shape(lambda st, *a: fn(nnx.merge(gd, st), *a), state, *args)


def test_part_partitions_cover_every_joint_once():
  for name, v in (("ntu25", 25), ("nwucla20", 20)):
    parts = fg.PARTS[name]
    assert len(parts) == 10
    assert sorted(j for p in parts for j in p) == list(range(v))
  c = tiny_config()
  assert fg.part_partition(c) == fg.PARTS["ntu25"]
  c.data.num_joints = 20
  assert fg.part_partition(c) == fg.PARTS["nwucla20"]
  c.model.parts = "((0, 1), (2, 3))"
  assert fg.part_partition(c) == ((0, 1), (2, 3))


def test_parts_are_connected_limbs_of_the_datasets_skeletons():
  """Each part is a connected piece of the release's own bone graph (NW-UCLA's 20 Kinect-v1
  joints are not NTU's first 20)."""
  from data_pipelines.formats import ntu, nwucla
  for name, pairs in (("ntu25", ntu.BONE_PAIRS), ("nwucla20", nwucla.BONE_PAIRS)):
    edges = {frozenset((a - 1, b - 1)) for a, b in pairs if a != b}
    for part in fg.PARTS[name]:
      reached, frontier = {part[0]}, [part[0]]
      while frontier:
        j = frontier.pop()
        for k in part:
          if k not in reached and frozenset((j, k)) in edges:
            reached.add(k)
            frontier.append(k)
      assert reached == set(part), (name, part)


def test_focal_joints_are_the_brute_force_top_k():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 3, 25, 6)).astype(np.float32)
  w = rng.normal(size=(6,)).astype(np.float32)
  xj, idx, s = jax.jit(fg.select_focal, static_argnums=2)(x, w, 7)
  ref_s = 1 / (1 + np.exp(-(x.astype(np.float64) @ w) / np.linalg.norm(w)))
  np.testing.assert_allclose(s, ref_s, rtol=1e-5)
  for n in range(2):
    for t in range(3):
      order = sorted(range(25), key=lambda j: -ref_s[n, t, j])[:7]
      assert list(np.asarray(idx[n, t])) == order
      np.testing.assert_allclose(xj[n, t], x[n, t, order] * ref_s[n, t, order, None], rtol=1e-5)


def test_saturated_focal_scores_still_rank_by_the_logits():
  """Logits 20-40: every float32 score is exactly 1.0, yet the selection is the float64 order of
  Eq. (2)'s scores (the logits' order), not joint order."""
  rng = np.random.default_rng(1)
  x = rng.uniform(20, 40, size=(2, 3, 20, 1)).astype(np.float32)
  w = np.ones((1,), np.float32)
  _, idx, s = jax.jit(fg.select_focal, static_argnums=2)(x, w, 5)
  assert np.all(np.asarray(s) == 1.0)
  want = np.argsort(-x[..., 0].astype(np.float64), axis=-1)[..., :5]
  np.testing.assert_array_equal(np.asarray(idx), want)


def test_wp_and_global_maps_get_gradients():
  c = tiny_config(channels=(8, 8), depths=(1, 1))
  model = random_model(c)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 2, 8, 25, 3)), jnp.float32)
  loss = lambda m: (m(x, train=True)["logits"] ** 2).sum()
  g = nnx.jit(nnx.grad(loss))(model)
  assert float(jnp.abs(g["w_p"][...]).max()) > 0
  for layer in ("stage1", "stage2"):
    key = "sformer" if layer == "stage1" else "joint_s"
    gm = g[layer][0][key]["attn"]["global_map"][...]
    assert float(jnp.abs(gm).max()) > 0


def test_global_map_is_shared_and_learnable():
  attn = MultiHeadAttention(4, 4, 4, num_heads=3, qk_features=2, global_map=(5, 5),
                            rngs=nnx.Rngs(0))
  assert isinstance(attn.global_map, nnx.Param) and attn.global_map.shape == (3, 5, 5)
  np.testing.assert_allclose(attn.global_map[...], 0.2)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 5, 4)), jnp.float32)
  weights = jax.jit(lambda m, x: m.weights(x, x))
  a0 = weights(attn, x)
  delta = np.random.default_rng(1).normal(size=(3, 5, 5)).astype(np.float32)
  attn.global_map[...] = attn.global_map[...] + delta
  # The same map is added to every sample's (and head's own) softmax output.
  np.testing.assert_allclose(weights(attn, x) - a0, np.broadcast_to(delta, a0.shape), atol=1e-6)


def test_temporal_conv_dilation_and_stride_brute_force():
  conv = TemporalConv(3, 4, 7, dilation=2, stride=2, rngs=nnx.Rngs(0))
  x = np.random.default_rng(0).normal(size=(2, 10, 3, 3))
  y = np.asarray(jax.jit(lambda m, x: m(x))(conv, jnp.asarray(x, jnp.float32)))
  k, b = np.asarray(conv.kernel[...], np.float64)[:, 0], np.asarray(conv.bias[...], np.float64)
  ref = np.zeros((2, 5, 3, 4))
  for t in range(5):
    for i in range(7):
      src = 2 * t + 2 * (i - 3)  # centred on frame 2t, taps 2 apart
      if 0 <= src < 10:
        ref[:, t] += x[:, src] @ k[i]
  np.testing.assert_allclose(y, ref + b, rtol=1e-4, atol=1e-5)


def _eq5_numpy(block, x, stride):
  """Eq. (5) in float64 with brute-force dilated convolutions (norm='none')."""
  f64 = lambda a: np.asarray(a[...], np.float64)
  n, t, v, c = x.shape
  xs = x[:, ::stride]
  y = (x + sinusoidal_table(t, c)[:, None, :])[:, ::stride]
  h = block.num_heads
  q = (y @ f64(block.q.kernel) + f64(block.q.bias)).reshape(*y.shape[:3], h, -1)
  k = (y @ f64(block.k.kernel) + f64(block.k.bias)).reshape(*y.shape[:3], h, -1)
  heads = []
  for i in range(h):
    conv = block.tcn[i]
    kern, d = f64(conv.kernel)[:, 0], conv.dilation
    tp = xs.shape[1]
    val = np.zeros((n, tp, v, kern.shape[-1])) + f64(conv.bias)
    for to in range(tp):
      for j in range(kern.shape[0]):
        src = to * stride + d * (j - kern.shape[0] // 2)
        if 0 <= src < t:
          val[:, to] += x[:, src] @ kern[j]
    logits = np.einsum("nqvd,nkvd->nvqk", q[..., i, :], k[..., i, :]) / np.sqrt(q.shape[-1])
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    av = np.einsum("nvqk,nkvc->nqvc", a, val)
    heads.append(av @ f64(block.w_h[i].kernel) + f64(block.w_h[i].bias) + val)
  z = np.concatenate(heads, -1) @ f64(block.w_o.kernel) + f64(block.w_o.bias)
  out = np.where(z > 0, z, block.slope * z)
  if block.down is not None:
    return out + xs @ f64(block.down.kernel) + f64(block.down.bias)
  return out + x


@pytest.mark.parametrize("stride,cout", [(1, 6), (2, 12)])
def test_fg_tformer_matches_eq5_float64(stride, cout):
  block = fg.TFormer(6, cout, num_heads=2, kernel_size=7, dilations=(1, 2), stride=stride,
                     mode="fg", norm="none", slope=0.1, rngs=nnx.Rngs(stride))
  x = np.random.default_rng(0).normal(size=(2, 12, 3, 6))
  y = jax.jit(lambda m, x: m(x))(block, jnp.asarray(x, jnp.float32))
  ref = _eq5_numpy(block, x, stride)
  assert y.shape == ref.shape == (2, 12 // stride, 3, cout)
  np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_paper_shapes_strides_and_jpca():
  c = config_lib.load(CONFIG + ":ntu60_xsub")
  assert fg.layer_strides(c.model.channels) == (1, 1, 2, 1, 2, 1, 1, 1)  # layers 3 and 5
  x = jax.ShapeDtypeStruct((1, 2, 16, 25, 3), jnp.float32)

  shapes, strides = [], []  # static facts collected while tracing

  def trace(model, x):
    h = model.embed(x.reshape(2, 16, 25, 3))
    strides.extend(t.tformer.tcn[0].stride for t in model.stage1)
    for layer in model.stage1:
      h = layer(h, False)
      shapes.append(h.shape)
    f = model.features(x)
    layer = model.stage2[0]
    amap = layer.part_to_joint.attn.weights(f["joint"], f["part"])
    gm = layer.joint_s.attn.global_map[...]
    return f, amap, gm

  f, amap, gm = abstract_apply(c, trace, x)
  assert [s[1] for s in shapes] == [16, 16, 8, 8, 4, 4]
  assert [s[3] for s in shapes] == [64, 64, 128, 128, 256, 256]
  assert f["joint"].shape == (2, 4, 15, 256) and f["part"].shape == (2, 4, 10, 256)
  assert f["focal_ids"].shape == (2, 4, 15)
  assert amap.shape == (2, 4, 3, 15, 10)  # A_jp in R^{K x P} per frame and head (Eq. 4)
  assert gm.shape == (3, 15, 15)  # A_g over the K focal ranks
  assert strides == [1, 1, 2, 1, 2, 1]


def test_spatial_qk_features_per_layer():
  """One value serves every layer; a tuple gives each layer its own width (all of a layer's
  spatial attentions: Basic-SFormer, part branch and both JP-CA directions)."""
  c = config_lib.load(CONFIG + ":nwucla", ["model.spatial_qk_features=(16,16,32,32,64,64,64,64)"])
  x = jax.ShapeDtypeStruct((1, 1, 8, 20, 3), jnp.float32)

  s1, s2 = [], []  # static facts collected while tracing

  def q_widths(model, x):
    s1.extend(layer.sformer.attn.q.kernel.shape[1] for layer in model.stage1)
    s2.extend((l.joint_s.attn.q.kernel.shape[1], l.part_s.attn.k.kernel.shape[1],
               l.part_to_joint.attn.q.kernel.shape[1], l.joint_to_part.attn.k.kernel.shape[1])
              for l in model.stage2)
    return model(x)["logits"]

  logits = abstract_apply(c, q_widths, x)
  heads = c.model.spatial_heads
  assert s1 == [heads * q for q in (16, 16, 32, 32, 64, 64)]
  assert s2 == [(heads * 64,) * 4] * 2
  assert logits.shape == (1, 10)
  assert fg.layer_qk_features((16,), 3) == fg.layer_qk_features(16, 3) == (16, 16, 16)
  with pytest.raises(ValueError, match="3 entries for 8 layers"):
    abstract_apply(config_lib.load(CONFIG + ":nwucla", ["model.spatial_qk_features=(8,8,8)"]),
                   lambda m, x: m(x)["logits"], x)


@pytest.mark.parametrize("opts", [
    dict(focal=False, part_branch=False, jpca=False), dict(jpca=False), dict(temporal="basic"),
    dict(temporal="tcn"), dict(depths=(1, 2), num_focal=25), dict(person_pool="masked_mean")])
def test_ablation_switches_build_and_run(opts):
  c = tiny_config(**opts)
  x = jax.ShapeDtypeStruct((2, 2, 8, 25, 3), jnp.float32)
  out = abstract_apply(c, lambda m, x: m(x, train=True), x)
  assert out["logits"].shape == (2, 3)


def test_masked_person_pool_ignores_empty_person():
  c = tiny_config(person_pool="masked_mean", norm="none", channels=(8, 8), depths=(1, 1))
  model = random_model(c)
  x = np.random.default_rng(0).normal(size=(2, 2, 8, 25, 3)).astype(np.float32)
  x[:, 1] = 0
  one = x[:, :1]
  f = jax.jit(lambda m, x: m(x)["logits"])
  np.testing.assert_allclose(f(model, x), f(model, one), rtol=1e-5, atol=1e-5)


def test_configs():
  for v in ("ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "nwucla", "demo"):
    c = config_lib.load(f"{CONFIG}:{v}")
    config_lib.validate(c, num_devices=8)
    assert set(c.keys()) == set(config_lib.base_config().keys())
  c = config_lib.load(CONFIG + ":ntu120_xset,stream=bone,model.num_focal=9")
  assert (c.data.stream, c.model.num_focal, c.model.num_classes) == ("bone", 9, 120)
  assert c.schedule.boundaries_epochs == (50, 70) and c.schedule.base_lr == 0.01
  u = config_lib.load(CONFIG + ":nwucla")
  assert (u.data.num_joints, u.data.max_persons, u.data.num_frames, u.data.normalize) == (20, 1, 52, "nwucla")
  with pytest.raises(config_lib.ConfigError):
    config_lib.load(CONFIG + ":ntu60_xsub,nosuchkey=1")


def test_bfloat16_compute_path_stays_bfloat16():
  c = tiny_config()
  gd, p, r = nnx.split(nnx.eval_shape(lambda: registry.create(c, rngs=nnx.Rngs(0))), nnx.Param, ...)
  p16 = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, jnp.bfloat16), p)
  x = jax.ShapeDtypeStruct((2, 2, 8, 25, 3), jnp.bfloat16)
  out = jax.eval_shape(lambda p, r, x: nnx.merge(gd, p, r)(x, train=True)["logits"], p16, r, x)
  assert out.dtype == jnp.bfloat16


def test_torch_default_initialisation():
  """model.init='torch': every weight and bias U(-b, b), b = 1/sqrt(fan_in), as torch.nn.Linear
  draws them (checked against torch itself); 'flax' keeps lecun_normal weights and zero biases."""
  import torch
  lin = torch.nn.Linear(64, 200)
  np.testing.assert_allclose(lin.weight.detach().abs().max().item(), 1 / 8, rtol=0.01)
  np.testing.assert_allclose(lin.bias.detach().abs().max().item(), 1 / 8, rtol=0.05)
  model = registry.create(tiny_config(channels=(16, 32, 32), init="torch"), rngs=nnx.Rngs(0))
  layers = [m for _, m in nnx.iter_modules(model) if isinstance(getattr(m, "kernel", None), nnx.Param)]
  assert any(isinstance(m, TemporalConv) for m in layers) and len(layers) > 30
  for m in layers:
    w = np.asarray(m.kernel[...], np.float64)
    b = 1 / np.sqrt(np.prod(w.shape[:-1]))
    assert np.abs(w).max() <= b
    if w.size >= 1000:  # U(-b, b) has std b / sqrt(3)
      np.testing.assert_allclose(w.std(), b / np.sqrt(3), rtol=0.1)
      np.testing.assert_allclose(np.abs(w).max(), b, rtol=0.02)
    if getattr(m, "bias", None) is not None:
      bias = np.asarray(m.bias[...])
      assert np.abs(bias).max() <= b and np.any(bias != 0)
  flax_model = registry.create(tiny_config(channels=(16, 32, 32), init="flax"), rngs=nnx.Rngs(0))
  fc1 = np.asarray(flax_model.fc1.kernel[...], np.float64)
  assert np.all(np.asarray(flax_model.fc1.bias[...]) == 0)
  assert fc1.std() > 1.4 * np.asarray(model.fc1.kernel[...]).std()


def test_batch_norm_variance_survives_a_large_mean():
  """Train-mode BatchNorm against float64 on channels whose mean is 1,000x their spread (the
  first layers' activations on min-maxed NW-UCLA come close): E[x^2] - E[x]^2 in float32, flax's
  default, loses the variance there; the centred form keeps it, as PyTorch does."""
  rng = np.random.default_rng(0)
  x = 10.0 + 0.01 * rng.standard_normal((4, 8, 5, 16))
  norm = fg.Norm(16, "batch", rngs=nnx.Rngs(0))
  got = np.asarray(norm(jnp.asarray(x, jnp.float32), train=True), np.float64)
  want = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + 1e-5)
  np.testing.assert_allclose(got, want, atol=2e-3)
  # The running variance takes the same batch variance (torch: the unbiased one; flax: biased).
  np.testing.assert_allclose(np.asarray(norm.bn.var[...]), 0.9 + 0.1 * x.var((0, 1, 2)), rtol=1e-6)
