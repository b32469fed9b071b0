"""Keep freed host memory in the process (glibc), so XLA:CPU's per-step buffers are not re-faulted.

XLA:CPU allocates an executable's temporaries at every call and frees them afterwards. The FD-MAE
pre-training step needs 1.8 GB of them. With glibc's defaults, blocks that size are mmap'ed, or sit
in per-thread arenas that are unmapped when freed. Every step then page-faults all 1.8 GB back in:
460k minor faults and about 1 s of kernel time per step on the 2-core CPU, 30% of the step.
Three mallopt settings keep that memory mapped, and the process stays at its peak footprint, as a
caching allocator would:
  M_ARENA_MAX = 1         one heap for all threads (with only the other two, the faults remained)
  M_MMAP_MAX = 0          large blocks come from that heap, not from a fresh mmap each
  M_TRIM_THRESHOLD = max  free space at the top of the heap is not returned to the OS
The settings must be made before JAX starts its thread pools. The CLI makes them when it starts
(except for `prepare`); library users call `keep_freed_memory()` first thing, or set the same
values through the environment (README, "Performance on CPU"). ACTIONJAX_KEEP_HOST_MEMORY=0 turns
this off. The cost: threads share one heap, and tf.data's many threads ran 15-25% slower in
benchmarks/input_pipeline.py (3,000-3,700 instead of 3,500-4,700 samples/s), still far more than a
training step consumes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # glibc <malloc.h>
_applied: bool | None = None


def keep_freed_memory() -> bool:
  """Apply the settings once per process; True if they are in effect (Linux with glibc)."""
  global _applied
  if _applied is not None:
    return _applied
  _applied = False
  if not sys.platform.startswith("linux") or os.environ.get("ACTIONJAX_KEEP_HOST_MEMORY", "1") == "0":
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):  # musl and other libcs have no mallopt
    return False
  settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))
  _applied = all(mallopt(key, value) == 1 for key, value in settings)
  return _applied
