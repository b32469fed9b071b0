"""Keep freed host memory in the process (glibc), so XLA:CPU's per-step buffers are not re-faulted.

XLA:CPU allocates an executable's temporaries at every call and frees them afterwards. The FD-MAE
pre-training step needs 1.8 GB of them. With glibc's defaults, blocks that size are mmap'ed, or sit
in per-thread arenas that are unmapped when freed. Every step then page-faults all 1.8 GB back in:
460-560k minor faults and 1-3 s of kernel time per step on the 2-core CPU.

Three mallopt settings keep that memory mapped, and the process stays at its peak footprint, as a
caching allocator would:
  M_ARENA_MAX = 1         one heap for all threads (with only the other two, the faults remained)
  M_MMAP_MAX = 0          large blocks come from that heap, not from a fresh mmap each
  M_TRIM_THRESHOLD = max  free space at the top of the heap is not returned to the OS

The cost is the single heap. Every thread's malloc takes one lock: FG-STFormer's many small
buffers made its step 1.5x slower, and tf.data ran 15-25% slower. So it is a per-config choice,
`train.keep_host_memory`, on for FD-MAE pre-training.

glibc's `glibc.malloc.hugetlb=1` tunable also cut the faults about 50x (2 MB pages), but the kernel's
compaction for them cost up to 5 s of kernel time per step once two processes shared the memory.

The settings must be made before JAX starts its thread pools. `actionjax train` and
`actionjax bench` call `apply(config)` right after loading the config. ACTIONJAX_KEEP_HOST_MEMORY=0
overrides the config.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # glibc <malloc.h>
_applied: bool | None = None


def apply(config) -> bool:
  """keep_freed_memory() if config.train.keep_host_memory; True if the settings are in effect."""
  return config.train.keep_host_memory and keep_freed_memory()


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
