"""Library noise kept out of the user's terminal and notebook: TensorFlow's C++ log lines (the
oneDNN notice, CUDA probing) and orbax's absl warnings ("CheckpointManagerOptions.read_only=True
...", "Given directory is read only ..."), which say nothing about the user's run.

`actionjax --debug ...` or the environment variable ACTIONJAX_DEBUG=1 (for the Python API) brings
them back."""
from __future__ import annotations

import contextlib
import logging
import os

DEBUG_ENV = "ACTIONJAX_DEBUG"


def debugging() -> bool:
  return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def quiet_native_logs() -> None:
  """TensorFlow's C++ INFO and WARNING lines off; only effective before TensorFlow loads, so
  `import actionjax` and the CLI call it first. An explicit TF_CPP_MIN_LOG_LEVEL is kept."""
  if not debugging():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def quiet_absl():
  """absl-logged warnings (orbax's) off inside the block; errors still show."""
  if debugging():
    yield
    return
  log = logging.getLogger("absl")  # absl.logging's Python logger, without importing absl here
  level = log.level
  log.setLevel(logging.ERROR)
  try:
    yield
  finally:
    log.setLevel(level)
