"""Orbax checkpoints of the whole train state (params, optimizer, batch statistics, EMA, step,
RNG) plus JSON metadata (input position, model identity, metrics), in `<workdir>/checkpoints`.

Keeps the `keep` latest steps plus the best by an eval metric; restores onto any mesh (the
abstract target carries the new shardings); a corrupt or partial step falls back to the one
before it, saying so.
"""
from __future__ import annotations

import os
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp


class CheckpointError(RuntimeError):
  pass


def _log(msg: str) -> None:
  if jax.process_index() == 0:
    print(msg, flush=True)


class Checkpointer:
  """Thin wrapper over `ocp.CheckpointManager` with items `state` (pytree) and `meta` (JSON)."""

  def __init__(self, workdir: str, *, keep: int = 3, best_metric: str = "", async_save: bool = True,
               read_only: bool = False):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self.best_metric = best_metric
    policies = [pp.LatestN(n=keep)]
    if best_metric:
      policies.append(pp.BestN(get_metric_fn=lambda m: m[best_metric], reverse=False, n=1,
                               keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=pp.AnyPreservationPolicy(policies),
        enable_async_checkpointing=async_save, read_only=read_only, create=not read_only)
    self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, meta: dict, metrics: dict | None = None) -> None:
    metrics = {k: float(v) for k, v in (metrics or {}).items()} or None
    meta = dict(meta, metrics=metrics or {})
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                    meta=ocp.args.JsonSave(meta)),
                      metrics=metrics, force=True)

  def read_meta(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def resolve(self, which: str | int | None) -> int | None:
    """'latest' | 'best' | a step number -> a step present on disk (None when there is none)."""
    steps = self.steps()
    if not steps:
      return None
    if which in (None, "latest"):
      return steps[-1]
    if which == "best":
      scored = {s: self.read_meta(s).get("metrics", {}) for s in steps}
      scored = {s: m[self.best_metric] for s, m in scored.items() if self.best_metric in m}
      if not scored:
        raise CheckpointError(f"no checkpoint in {self.directory} has eval metrics for 'best'"
                              " (set train.eval_every_steps when training); use --checkpoint latest")
      return max(scored, key=lambda s: (scored[s], s))
    step = int(which)
    if step not in steps:
      raise CheckpointError(f"no checkpoint at step {step} in {self.directory}; available: {steps}")
    return step

  def restore(self, abstract_state: Any, which: str | int | None = "latest") -> tuple[int, Any, dict] | None:
    """Restores onto `abstract_state` (ShapeDtypeStructs with shardings). Falls back to older steps
    when the requested one is unreadable, and says so; returns None when there is no checkpoint."""
    step = self.resolve(which)
    if step is None:
      return None
    candidates = [s for s in reversed(self.steps()) if s <= step]
    errors = []
    for s in candidates:
      try:
        out = self.manager.restore(s, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
      except Exception as e:  # orbax raises many types for truncated / missing files
        errors.append(f"step {s}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        _log(f"warning: checkpoint step {s} in {self.directory} is unreadable ({errors[-1]});"
             " falling back to the previous one")
        continue
      return s, out["state"], out["meta"]
    raise CheckpointError(f"no readable checkpoint in {self.directory}: " + "; ".join(errors))

  def restore_raw(self, which: str | int | None = "latest") -> tuple[int, Any, dict]:
    """The saved state as host numpy arrays without a target (for init from another run)."""
    step = self.resolve(which)
    if step is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    meta = self.read_meta(step)
    item_dir = os.path.join(self.directory, str(step), "state")
    with warnings.catch_warnings():  # no target shardings on purpose: host arrays, any topology
      warnings.simplefilter("ignore", UserWarning)
      raw = ocp.PyTreeCheckpointer().restore(item_dir)
    return step, raw, meta

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
