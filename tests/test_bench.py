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
