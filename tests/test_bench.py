"""`actionjax bench` measures a real step: parameter count by hand, FLOPs vs a matmul count."""
import tiny_data
from actionjax import bench


def test_bench_tiny():
  c = tiny_data.config("/unused")
  out = bench.bench_config(c, batch_size=8, steps=2)
  w, v, ch, k = 16, tiny_data.JOINTS, 3, tiny_data.NUM_CLASSES
  assert out["parameters"] == v * ch * w + 2 * w + 3 * w * w + w + w * k + k
  # forward FLOPs are at least the two matmul-like layers over B*M*T rows (2 flops per MAC)
  rows = 2 * c.data.num_frames
  assert out["model_flops_per_sample"] >= 2 * rows * (v * ch * w + 3 * w * w)
  assert out["train_flops_per_sample"] > 2 * out["model_flops_per_sample"]
  assert out["train_samples_per_s"] > 0 and out["eval_samples_per_s"] > 0 and out["peak_host_memory_mb"] > 100
  assert out["init_s"] > 0 and out["train_hlo_instructions"] > 100  # the optimised step's size
  # the papers' count: every multiply-add of the embedding, the k=3 temporal conv (padding taps
  # included) and the head, times 2
  assert out["model_dense_flops_per_sample"] == 2 * rows * (v * ch * w + 3 * w * w) + 2 * w * k


def test_bench_counts_looped_attention_in_full():
  """XLA counts a loop body once; the looped FD-MAE attention must still report the FLOPs of the
  batched form, which include every (sequence, head) score matrix."""
  from actionjax import config as config_lib
  counts = {}
  for form in ("looped", "batched"):
    c = config_lib.load("configs/fdmae.py:demo_linear", [f"--config.model.attention={form}"])
    counts[form] = bench.bench_config(c, batch_size=8, steps=1)["model_flops_per_sample"]
  c = config_lib.load("configs/fdmae.py:demo_linear")
  tokens = c.data.max_persons * (c.data.num_frames // c.model.t_patch) * c.data.num_joints
  # q k^T and p v of every head and block: 2 x 2 n^2 d_model multiply-adds per person-sequence
  attention = c.model.depth * 2 * 2 * (tokens // c.data.max_persons) ** 2 * c.model.dim * c.data.max_persons
  assert counts["looped"] == counts["batched"]
  assert counts["batched"] > attention


def test_fdmae_floor_counts_the_blocks_of_the_real_step(monkeypatch):
  """benchmarks/fdmae_floor.py's part list (every matrix product and attention core of both paths'
  blocks, with its backward on the online path) against XLA's FLOP count of the paper config's
  loss gradient: the parts must fit inside it (a double count would not) and make up nearly all
  of it (a forgotten path or backward would not: the target path's forwards alone are 23%)."""
  import os

  import jax
  import jax.numpy as jnp
  from flax import nnx

  from actionjax import config as config_lib
  from actionjax.models import registry
  monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
  import fdmae_floor

  batch = 8
  c = config_lib.load("configs/fdmae.py:ntu60_xsub_pretrain", ["--config.model.attention=batched"])
  d = c.data
  g, p, r = nnx.split(nnx.eval_shape(lambda: registry.create(c, rngs=nnx.Rngs(0))), nnx.Param, ...)
  x = jax.ShapeDtypeStruct((batch, d.max_persons, d.num_frames, d.num_joints, d.channels), jnp.float32)

  def loss(p, e, x):
    return nnx.merge(g, p, r)(x, train=True, rngs=nnx.Rngs(mask=jax.random.key(0)),
                              ema=nnx.merge(g, e, r))["loss"].mean()
  xla = jax.jit(jax.grad(loss)).lower(p, p, x).cost_analysis()["flops"]
  parts = fdmae_floor.parts(c, batch)
  counted = sum(n * fdmae_floor.flop_of(kind, key) for kind in parts for key, n in parts[kind].items())
  assert 0.9 * xla < counted <= xla
