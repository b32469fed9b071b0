"""X-STFT: the depthwise STFT layer against Eq. 2 in numpy float64, fixed kernels outside the
parameter tree, block parameter counts against Sec. 3.3, the network's shapes and sizes."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from actionjax import config as config_lib
from actionjax.layers import stft
from actionjax.models import registry
from actionjax.models import xstft

CONFIG = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "xstft.py")


def count(state) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(state)))

# Frequency vectors written out from the paper, (t, h, w), in units of k = 1/n.
FIG3 = [(1, 0, 0), (1, 0, 1), (1, 0, -1), (0, 1, 0), (0, 1, 1), (0, 1, -1), (1, 1, 0), (1, 1, 1),
        (1, 1, -1), (1, -1, 0), (1, -1, 1), (1, -1, -1), (0, 0, 1)]
SEC32 = [(0, 1, 0), (0, 0, 1), (0, 1, 1), (0, 1, -1)]  # 2D [k,0], [0,k], [k,k], [k,-k] over (h, w)


def eq2_reference(f: np.ndarray, variant: str, n: int) -> np.ndarray:
  """F(v, x) = sum_{y in N_x} f(y) exp(-j 2 pi v^T (x - y)) with zeros outside the volume, per
  channel, stacked [Re v1, Im v1, ...] (Eq. 7); brute force over positions and neighbours."""
  vs = {"st": FIG3, "s": SEC32, "t": [(1, 0, 0)]}[variant]
  shape = {"st": (n, n, n), "s": (1, n, n), "t": (n, 1, 1)}[variant]
  offs = [np.arange(s) - (s - 1) // 2 for s in shape]  # y - x; centred for odd n
  b, t, h, w, c = f.shape
  out = np.zeros((b, t, h, w, c, len(vs), 2))
  for xt in range(t):
    for xh in range(h):
      for xw in range(w):
        for ot in offs[0]:
          for oh in offs[1]:
            for ow in offs[2]:
              y = (xt + ot, xh + oh, xw + ow)
              if not all(0 <= y[i] < (t, h, w)[i] for i in range(3)):
                continue
              for m, v in enumerate(vs):
                e = np.exp(-2j * np.pi * np.dot(np.array(v) / n, -np.array([ot, oh, ow])))  # v.(x - y)
                val = f[:, y[0], y[1], y[2], :] * e
                out[:, xt, xh, xw, :, m, 0] += val.real
                out[:, xt, xh, xw, :, m, 1] += val.imag
  return out.reshape(b, t, h, w, c * len(vs) * 2)


@pytest.mark.parametrize("variant", ["st", "s", "t"])
@pytest.mark.parametrize("size,n", [((5, 7, 6), 3), ((4, 6, 5), 2), ((3, 5, 8), 4), ((6, 4, 7), 5)])
def test_depthwise_stft_is_eq2(variant, size, n):
  rng = np.random.default_rng(0)
  f = rng.normal(size=(2, *size, 3))
  y = np.asarray(stft.depthwise_stft(jnp.asarray(f, jnp.float32), variant=variant, n=n))
  k = {"st": 13, "s": 4, "t": 1}[variant]
  assert y.shape == (2, *size, 3 * 2 * k)
  np.testing.assert_allclose(y, eq2_reference(f, variant, n), atol=2e-5)


def test_frequency_lists_and_constants():
  np.testing.assert_array_equal(stft.frequencies("st"), FIG3)
  np.testing.assert_array_equal(stft.frequencies("s"), SEC32)
  w = stft.kernel("t", 3)
  # 1D temporal: taps y - x = -1, 0, 1; Re cos(2 pi o / 3), Im sin(2 pi o / 3)
  np.testing.assert_allclose(w[:, 0, 0, 0, 0], [-0.5, 1.0, -0.5], atol=1e-7)
  np.testing.assert_allclose(w[:, 0, 0, 0, 1], [-np.sqrt(3) / 2, 0, np.sqrt(3) / 2], atol=1e-7)


def _tiny(block, **model):
  c = config_lib.load(f"{CONFIG}:demo,net={block}")
  c.model.num_classes = 5
  c.model.update(**model)
  return c


def test_kernels_are_not_parameters_and_get_no_update():
  for kind, fixed in [("st", 1), ("s", 1), ("t", 2), ("relpv", 1)]:
    blk = xstft.Block(kind, 4, 2, 3, 3, rngs=nnx.Rngs(0))
    layer = blk.layers[fixed]
    assert isinstance(layer, xstft.STFTBN)
    # the fixed layer's only variables are its BatchNorm's; the block's Params are its convs + BNs
    assert {".".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(layer))} == {
        "bn.scale", "bn.bias", "bn.mean", "bn.var"}
    convs = count(nnx.state(blk, nnx.Param)) - count(nnx.state(blk, nnx.BatchStat))  # BN: 2 + 2 per channel
    assert convs == xstft.block_param_formula(kind, 4, 2, 3, 3)
  # a gradient step updates the trainable weights; the kernels stay the same constants
  before = stft.kernel("st", 3).copy()
  blk = xstft.Block("st", 4, 2, 3, 3, rngs=nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 5, 5, 4)), jnp.float32)
  opt = nnx.Optimizer(blk, optax.sgd(0.1), wrt=nnx.Param)
  w0 = np.asarray(blk.layers[0].conv.kernel[...])

  @nnx.jit
  def step(blk, opt, x):
    loss, grads = nnx.value_and_grad(lambda m: (m(x, True) ** 2).mean())(blk)
    opt.update(blk, grads)
    return loss
  step(blk, opt, x)
  assert not np.array_equal(np.asarray(blk.layers[0].conv.kernel[...]), w0)
  np.testing.assert_array_equal(stft.kernel("st", 3), before)


@pytest.mark.parametrize("block", xstft.BLOCKS)
@pytest.mark.parametrize("c,b,f", [(192, 36, 128), (16, 3, 5)])
def test_block_parameter_counts_match_sec33(block, c, b, f):
  blk = nnx.eval_shape(lambda: xstft.Block(block, c, b, f, 3, rngs=nnx.Rngs(0)))
  convs = sum(np.prod(v.shape) for p, v in nnx.to_flat_state(nnx.state(blk, nnx.Param))
              if p[-1] == "kernel")
  assert convs == xstft.block_param_formula(block, c, b, f, 3)
  if block in ("st", "s", "t"):  # the paper's formulas, written out here
    n = 3
    assert convs == {"st": (c + 26 * f) * b, "s": (c + 8 * n + 8 * f) * b, "t": (c + n ** 2 + 2 * f) * b}[block]


def xstft_param_count(config) -> int:
  """Analytic count of a network: stem + modules (conv weights + BN affine) + head."""
  s = xstft.settings(config)
  kind, mult, n = s["block"], s["multiplier"], s["n"]
  bn_per_layer = {"st": lambda c, b, f: [b, 26 * b, f], "s": lambda c, b, f: [b, 8 * b, 8 * b, f],
                  "t": lambda c, b, f: [b, b, 2 * b, f], "fact_dw": lambda c, b, f: [b, b, 2 * b, f],
                  "relpv": lambda c, b, f: [b, 26, f], "i3d": lambda c, b, f: [b, f],
                  "s3d": lambda c, b, f: [b, f, f]}[kind]

  def block(c, b, f):
    return xstft.block_param_formula(kind, c, b, f, n) + 2 * sum(bn_per_layer(c, b, f))
  s0, s1, s2 = s["stem_widths"]
  cin = s["in_channels"]
  if s["stem"] == "i3d":
    total = 343 * cin * s0 + s0 * s1 + 27 * s1 * s2 + 2 * (s0 + s1 + s2)
  else:
    b0, b1 = (xstft.bottleneck(mult, r) for r in s["stem_bottlenecks"])
    total = block(cin, b0, s1) + block(s1, b1, s2)
  c = s2
  for a, r3, c3, r5, c5, pool in s["modules"]:
    total += (c * a + 2 * a) + block(c, xstft.bottleneck(mult, r3), c3) + block(c, xstft.bottleneck(mult, r5), c5)
    total += c * pool + 2 * pool
    c = a + c3 + c5 + pool
  return total + c * s["num_classes"] + s["num_classes"]


def test_network_analytic_size():
  """Every block type with both stems (the forward of each runs in test_xstft_export)."""
  for block in xstft.BLOCKS:
    for stem in ("i3d", "stft"):
      c = _tiny(block, stem=stem)
      model = nnx.eval_shape(lambda: registry.create(c, rngs=nnx.Rngs(0)))
      assert count(nnx.state(model, nnx.Param)) == xstft_param_count(c), (block, stem)


def test_full_size_counts_near_table2():
  """The Table 2 networks (abstract shapes only): within 10% of Table 2's parameters."""
  table2 = {"st": 5.84e6, "s": 6.03e6, "t": 6.27e6, "fact_dw": 6.28e6, "i3d": 12.90e6}
  for net, ref in table2.items():
    full = config_lib.load(f"{CONFIG}:ssv1,net={net}")
    n = xstft_param_count(full)  # equal to the model's count (test above); built once below
    if net == "t":
      abstract = nnx.eval_shape(lambda: registry.create(full, rngs=nnx.Rngs(0)))
      assert count(nnx.state(abstract, nnx.Param)) == n
    assert abs(n / ref - 1) < 0.10, (net, n)


def test_configs_recipe():
  c = config_lib.load(f"{CONFIG}:ssv1")
  assert c.model.block == "t" and c.data.num_frames == 16 and c.model.num_classes == 174
  assert not c.data.flip and c.optimizer.dampening == 0.9 and not c.optimizer.nesterov
  assert c.schedule.boundaries_epochs == (40, 80, 120) and c.train.num_epochs == 160
  for ds, flip in [("kinetics400", True), ("ucf101", True), ("hmdb51", True), ("diving48", True),
                   ("jester", False), ("ssv2", False), ("ntu60_xsub", False), ("isogd", False)]:
    assert config_lib.load(f"{CONFIG}:{ds}").data.flip == flip, ds
  c = config_lib.load(f"{CONFIG}:jester,net=st,frames=64,recipe=finetune,model.stem=stft")
  assert (c.model.block, c.data.num_frames, c.schedule.base_lr, c.model.stem) == ("st", 64, 0.01, "stft")
  assert c.schedule.boundaries_epochs == (20, 40) and c.train.num_epochs == 60
  with pytest.raises(config_lib.ConfigError, match="unknown net"):
    config_lib.load(f"{CONFIG}:ssv1,net=x")
  config_lib.validate(config_lib.load(f"{CONFIG}:demo"))


@pytest.mark.parametrize("kind", ["st", "s", "t", "fact_dw"])
def test_shift_form_equals_grouped_conv(kind):
  """model.depthwise=shift (the CPU default) and =conv give the same outputs and gradients."""
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 4, 6, 5, 3)), jnp.float32)
  outs = []
  for impl in ("conv", "shift"):
    blk = xstft.Block(kind, 3, 2, 4, 3, impl=impl, rngs=nnx.Rngs(0))
    loss = lambda m, x: (m(x, True) ** 2).mean()
    (val, (g_m, g_x)) = nnx.jit(lambda m, x: (loss(m, x), nnx.grad(loss, argnums=(0, 1))(m, x)))(blk, x)
    outs.append((val, jax.tree.leaves(nnx.state(g_m, nnx.Param)), g_x))
  np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5)
  for a, b in zip(outs[0][1], outs[1][1]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(outs[0][2], outs[1][2], rtol=1e-4, atol=1e-6)
  for variant in ("st", "s", "t"):
    np.testing.assert_allclose(stft.depthwise_stft(x, variant=variant, impl="shift"),
                               stft.depthwise_stft(x, variant=variant, impl="conv"), atol=1e-5)
