"""`actionjax evaluate`: metrics, confusion matrix and per-sample scores of a trained workdir."""
from __future__ import annotations

import os

import jax

from actionjax import evaluate as evaluate_lib
from actionjax import workdir as workdir_lib
from actionjax.config import apply_overrides
from actionjax.train import trainer


def evaluate_workdir(workdir: str, *, split: str | None = None, checkpoint: str | int = "latest",
                     num_clips: int | None = None, overrides=()) -> dict:
  """Evaluates a checkpoint of `workdir` on `split`; writes `<workdir>/eval/<split>/`:
  metrics.json (top1, top5, mean_class_accuracy, num_samples, step, checkpoint, num_clips),
  confusion.npy, confusion.png (class names when the data knows them) and scores.npz."""
  config = workdir_lib.load_config(workdir)
  apply_overrides(config, overrides)
  split = split or config.data.eval_split
  num_clips = num_clips or config.data.num_clips
  setup, state, step, config = workdir_lib.restore(workdir, checkpoint, config)
  pipeline = trainer.make_pipeline(config, split, train=False,
                                   batch_size=config.train.eval_batch_size or config.train.batch_size,
                                   num_clips=num_clips)
  use_ema = config.train.ema_decay > 0 and not setup.uses_ema
  names, labels, logits = trainer.eval_logits(setup, state, pipeline, use_ema)
  out_dir = os.path.join(os.path.abspath(workdir), "eval", split)
  metrics = {}
  if jax.process_index() == 0:
    metrics = evaluate_lib.save_results(out_dir, names, labels, logits, pipeline.info.get("class_names"),
                                        extra={"step": int(step), "checkpoint": str(checkpoint),
                                               "num_clips": int(num_clips), "split": split})
  metrics["out_dir"] = out_dir
  return metrics
