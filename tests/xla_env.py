"""The test processes' XLA flags (tests/conftest.py) for a subprocess or kernel with its own device
count."""
import os
import re


def xla_flags(devices: int) -> str:
  return re.sub(r"--xla_force_host_platform_device_count=\d+", f"--xla_force_host_platform_device_count={devices}",
                os.environ["XLA_FLAGS"])
