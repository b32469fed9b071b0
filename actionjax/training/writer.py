"""Run logs: TensorBoard event files, a metrics JSONL and a console progress bar (process 0)."""
from __future__ import annotations

import json
import os
import time

import jax


class Writer:

  def __init__(self, workdir: str, total_steps: int, start_step: int, quiet: bool = False):
    self.enabled = jax.process_index() == 0
    self.jsonl = None
    self.tb = None
    self.bar = None
    if not self.enabled:
      return
    self.jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    try:
      import tensorflow as tf
      tf.config.set_visible_devices([], "GPU")
      self.tb = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
    except ImportError:  # TensorBoard logs are optional; the JSONL always exists
      self.tb = None
    if not quiet:
      from tqdm.auto import tqdm
      self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True,
                      smoothing=0.1)
    self._last = (time.time(), start_step)

  def step(self, n: int = 1) -> None:
    if self.bar is not None:
      self.bar.update(n)

  def write(self, step: int, metrics: dict, prefix: str = "train", batch_size: int | None = None) -> dict:
    if not self.enabled:
      return metrics
    metrics = {k: float(v) for k, v in metrics.items()}
    if batch_size is not None:
      now = time.time()
      t0, s0 = self._last
      if step > s0:
        metrics["samples_per_s"] = (step - s0) * batch_size / max(now - t0, 1e-9)
      self._last = (now, step)
    record = {"step": step, **{f"{prefix}/{k}": v for k, v in metrics.items()}}
    self.jsonl.write(json.dumps(record) + "\n")
    self.jsonl.flush()
    if self.tb is not None:
      import tensorflow as tf
      with self.tb.as_default(step=step):
        for k, v in metrics.items():
          tf.summary.scalar(f"{prefix}/{k}", v)
      self.tb.flush()
    if self.bar is not None:
      shown = {k: metrics[k] for k in ("loss", "accuracy", "samples_per_s", "top1") if k in metrics}
      self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)
    return metrics

  def restart_clock(self, step: int) -> None:
    """The next samples_per_s is measured from now and `step` (evaluation and saving excluded)."""
    self._last = (time.time(), step)

  def print(self, msg: str) -> None:
    if not self.enabled:
      return
    if self.bar is not None:
      self.bar.write(msg)
    else:
      print(msg, flush=True)

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
    if self.jsonl is not None:
      self.jsonl.close()
    if self.tb is not None:
      self.tb.close()
