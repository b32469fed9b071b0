"""Device mesh and shardings. Model code never sees these: the trainer places the batch on the
`data` axis and parameters either replicated or FSDP-sharded on `data` (big_vision / scenic style)."""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from actionjax.config import ConfigDict, mesh_shape

# FSDP only shards arrays at least this large: tiny biases gain nothing and cost collectives.
FSDP_MIN_SIZE = 2 ** 12


def make_mesh(config: ConfigDict, devices=None) -> Mesh:
  devices = list(jax.devices() if devices is None else devices)
  data, model = mesh_shape(config, len(devices))
  # Auto axes: XLA's partitioner propagates shardings through model code (GSPMD).
  return Mesh(np.asarray(devices).reshape(data, model), ("data", "model"),
              axis_types=(AxisType.Auto, AxisType.Auto))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def param_sharding(leaf, mesh: Mesh, fsdp: bool) -> NamedSharding:
  """Replicated, or (FSDP) sharded on `data` along the largest dimension it divides."""
  shape = getattr(leaf, "shape", ())
  n = mesh.shape["data"]
  if not fsdp or n == 1 or int(np.prod(shape)) < FSDP_MIN_SIZE:
    return replicated(mesh)
  for axis in sorted(range(len(shape)), key=lambda a: -shape[a]):
    if shape[axis] % n == 0:
      spec = [None] * len(shape)
      spec[axis] = "data"
      return NamedSharding(mesh, P(*spec))
  return replicated(mesh)


def tree_shardings(tree, mesh: Mesh, fsdp: bool):
  return jax.tree.map(lambda x: param_sharding(x, mesh, fsdp), tree)


def global_batch(local: dict, mesh: Mesh) -> dict:
  """Per-process numpy batch -> global jax.Arrays sharded on `data` (multi-host safe)."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local.items() if k != "name"}
