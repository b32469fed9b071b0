"""Everything a run builds before its first step, shared by train, evaluate, load and bench:
the model's graph, the abstract and sharded train state, the optimizer and schedule."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from actionjax.config import ConfigDict
from actionjax.models import registry
from actionjax.training import optim, sharding
from actionjax.training.state import TrainState


class InitError(ValueError):
  pass


@dataclasses.dataclass
class Setup:
  config: ConfigDict
  mesh: Mesh
  graphdef: Any
  abstract_state: TrainState      # ShapeDtypeStructs carrying the shardings (orbax targets)
  state_shardings: TrainState
  tx: optax.GradientTransformation
  lr: optax.Schedule
  uses_ema: bool
  model_template: Any             # an abstract model (layer_index, num_layers, init_key_map)
  steps_per_epoch: int
  total_steps: int
  # Jitted eval forwards by use_ema, kept so that an evaluation every epoch compiles once.
  eval_fns: dict = dataclasses.field(default_factory=dict)


def _split(model):
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest)


def build(config: ConfigDict, mesh: Mesh, *, steps_per_epoch: int = 1, total_steps: int = 1) -> Setup:
  seed = config.seed
  abstract_model = nnx.eval_shape(lambda: registry.create(config, rngs=nnx.Rngs(seed)))
  graphdef, params, _ = _split(abstract_model)
  lr = optim.schedule(config, steps_per_epoch, total_steps)
  tx = optim.make(config, params, lr, abstract_model)
  uses_ema = bool(getattr(type(abstract_model), "uses_ema", False))

  def init() -> TrainState:
    model = registry.create(config, rngs=nnx.Rngs(seed))
    _, params, rest = _split(model)
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params, rest=rest, opt_state=tx.init(params),
        ema=jax.tree.map(jnp.copy, params) if config.train.ema_decay > 0 else {},
        rng=jax.random.key_data(jax.random.key(seed + 1)), bad_step=jnp.full((), -1, jnp.int32))

  shapes = jax.eval_shape(init)
  fsdp = config.train.fsdp
  shardings = TrainState(
      step=sharding.replicated(mesh), params=sharding.tree_shardings(shapes.params, mesh, fsdp),
      rest=sharding.tree_shardings(shapes.rest, mesh, False),
      opt_state=sharding.tree_shardings(shapes.opt_state, mesh, fsdp),
      ema=sharding.tree_shardings(shapes.ema, mesh, fsdp), rng=sharding.replicated(mesh),
      bad_step=sharding.replicated(mesh))
  abstract = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)
  setup = Setup(config, mesh, graphdef, abstract, shardings, tx, lr, uses_ema, abstract_model,
                steps_per_epoch, total_steps)
  setup._init = init  # type: ignore[attr-defined]
  return setup


def init_state(setup: Setup) -> TrainState:
  """Initialises parameters directly into their shardings (no replicated host copy).

  The program runs once and its compile is most of its cost (a threefry loop per random tensor).
  On CPU, LLVM's optimisation passes double that compile (SLnL-rFA demo: 28 s -> 11 s without)
  and buy nothing here; the draws then differ from the optimised program's by float32 rounding."""
  cpu = setup.mesh.devices.flat[0].platform == "cpu"
  with jax.set_mesh(setup.mesh):
    init = jax.jit(setup._init, out_shardings=setup.state_shardings)  # type: ignore[attr-defined]
    return init.lower().compile({"xla_backend_optimization_level": 0} if cpu else None)()


def flat(tree) -> dict[str, Any]:
  return {optim.path_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def load_init_params(setup: Setup, state: TrainState, source_params: dict, source: str) -> tuple[TrainState, list[str]]:
  """Initialises from another run's parameters (fine-tuning): loads every path whose shape
  matches (after the model's optional `init_key_map`), lists what was loaded and what was not,
  and refuses a same-named parameter of another shape unless `init.exclude` names it."""
  key_map = getattr(setup.model_template, "init_key_map", None)
  src = {}
  for path, value in flat(source_params).items():
    mapped = key_map(tuple(path.split("."))) if key_map else tuple(path.split("."))
    if mapped is not None:
      src[".".join(mapped)] = np.asarray(value)
  exclude = re.compile(setup.config.init.exclude) if setup.config.init.exclude else None
  dst = flat(state.params)
  loaded, fresh, mismatched = [], [], []
  for path, leaf in dst.items():
    if exclude is not None and exclude.search(path):
      fresh.append(path)
    elif path not in src:
      fresh.append(path)
    elif src[path].shape != leaf.shape:
      mismatched.append(f"{path}: {src[path].shape} in {source}, {leaf.shape} here")
    else:
      loaded.append(path)
  if mismatched:
    raise InitError(f"init.checkpoint {source} does not fit this model: " + "; ".join(mismatched[:5]) +
                    " (exclude them with --config.init.exclude=REGEX)")
  if not loaded:
    raise InitError(f"init.checkpoint {source} shares no parameter with model {setup.config.model.name}")
  unused = sorted(set(src) - set(loaded) - set(fresh))
  leaves = jax.tree_util.tree_flatten_with_path(state.params)
  new_leaves = [jax.device_put(src[optim.path_str(p)].astype(v.dtype), v.sharding) if optim.path_str(p) in loaded
                else v for p, v in leaves[0]]
  params = jax.tree_util.tree_unflatten(leaves[1], new_leaves)
  state = state.replace(params=params, opt_state=jax.jit(setup.tx.init, out_shardings=setup.state_shardings.opt_state)(params),
                        ema=jax.tree.map(jnp.copy, params) if setup.config.train.ema_decay > 0 else state.ema)
  report = [f"init.checkpoint {source}: loaded {len(loaded)} parameter arrays, {len(fresh)} initialised fresh"
            f"{' (' + ', '.join(fresh[:6]) + (', ...' if len(fresh) > 6 else '') + ')' if fresh else ''}"
            f", {len(unused)} source arrays unused"]
  return state, report
