"""actionjax.host_memory: freed blocks stay mapped, so allocating the same size again does not fault.

Each case runs in a fresh interpreter (the settings are per process and must precede other
threads). The probe mallocs, fills and frees a 64 MB block twice on a worker thread, as XLA:CPU
does with a step's temporaries, and counts the minor page faults of the second round (64 MB =
16,384 pages of 4 KB).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = """
import ctypes, json, resource, sys, threading
from actionjax import host_memory
from actionjax.config import base_config
config = base_config()
config.train.keep_host_memory = sys.argv[1] in ("keep", "config")
applied = host_memory.keep_freed_memory() if sys.argv[1] == "keep" else host_memory.apply(config)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def fill():
  p = libc.malloc(64 << 20)
  ctypes.memset(p, 1, 64 << 20)
  libc.free(p)
def on_worker(fn):
  t = threading.Thread(target=fn)
  t.start()
  t.join()
on_worker(fill)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
on_worker(fill)
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


PAGES = (64 << 20) // 4096


def _probe(mode: str, **env: str) -> dict:
  out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                       env={**os.environ, **env})
  return json.loads(out.stdout)


def test_freed_memory_is_reused_without_page_faults():
  default, kept = _probe("default"), _probe("keep")
  assert kept["applied"] is True  # Linux with glibc, as this machine and CI
  assert default["faults"] > PAGES // 2, default  # glibc unmaps the block and the refill faults it back
  assert kept["faults"] < PAGES // 100, kept


def test_config_key_decides():
  on, off = _probe("config"), _probe("default")  # keep_host_memory set / base_config's default
  assert on["applied"] is True and on["faults"] < PAGES // 100, on
  assert off["applied"] is False and off["faults"] > PAGES // 2, off


def test_opt_out_by_environment():
  off = _probe("keep", ACTIONJAX_KEEP_HOST_MEMORY="0")
  assert off["applied"] is False and off["faults"] > PAGES // 2, off
