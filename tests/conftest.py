"""Test setup: eight emulated CPU devices before JAX starts, TF kept off accelerators."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest


@pytest.fixture(scope="session")
def synthetic_ntu60(tmp_path_factory):
  """Genuine-format synthetic NTU-60 `.skeleton` files (8 classes x 16), prepared once per session."""
  from data_pipelines import prepare, synthetic
  root = tmp_path_factory.mktemp("synthetic_ntu60")
  synthetic.write_ntu(str(root / "raw"), num_classes=8, samples_per_class=16, seed=0)
  summary = prepare.prepare("ntu60", str(root / "raw"), str(root / "records"), workers=1, progress=False)
  assert summary["ok"]
  return str(root / "records")
