"""Test setup: eight emulated CPU devices before JAX starts, TF kept off accelerators."""
import os

# LLVM at -O0: the suite is mostly XLA compiling tiny programs it then runs a few times, so the
# backend's optimisation passes cost more than they save (tests/test_trainer.py: 30% less CPU time).
# The HLO passes, and so the program and its results up to float rounding, are the same.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
                           " --xla_backend_optimization_level=0").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# JAX's persistent compilation cache, fresh for each run of the suite and shared by its workers and
# subprocesses: tests that train one config twice (resume, API vs CLI) compile it once.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  import tempfile
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="actionjax-tests-xla-")
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.2"
  os.environ["_ACTIONJAX_TESTS_OWN_CACHE"] = "1"

import pytest

# The heaviest files, heaviest first (seconds on 2 cores, `--durations=0` summed per file). With
# `--dist loadfile` xdist hands out whole files in collection order (`--no-loadscope-reorder` in
# pyproject.toml; its default order is by test count), so a heavy file collected last would run
# alone at the end. Re-measure when a file grows.
HEAVY_FIRST = ("test_cli.py", "test_slnl_rfa.py", "test_notebook.py", "test_trainer.py",
               "test_fdmae_pretrain.py", "test_fdmae_protocols.py", "test_demo.py", "test_mfst_train.py",
               "test_reproduce.py", "test_video_train.py", "test_xstft_train.py", "test_viz.py",
               "test_xstft.py", "test_onnx_export.py", "test_slnl_rfa_export.py", "test_fgstformer_export.py",
               "test_fgstformer.py", "test_mfst.py")


def pytest_collection_modifyitems(config, items):
  rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_unconfigure(config):
  """The run's compilation cache goes with it (removed by the process that made it)."""
  if os.environ.pop("_ACTIONJAX_TESTS_OWN_CACHE", None) and not hasattr(config, "workerinput"):
    import shutil
    shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def synthetic_ntu60(tmp_path_factory):
  """Genuine-format synthetic NTU-60 `.skeleton` files (8 classes x 16), prepared once per session."""
  from data_pipelines import prepare, synthetic
  root = tmp_path_factory.mktemp("synthetic_ntu60")
  synthetic.write_ntu(str(root / "raw"), num_classes=8, samples_per_class=16, seed=0)
  summary = prepare.prepare("ntu60", str(root / "raw"), str(root / "records"), workers=1, progress=False)
  assert summary["ok"]
  return str(root / "records")
