"""`actionjax evaluate`: metrics, confusion matrix and per-sample scores of a trained workdir."""
from __future__ import annotations

import os

import jax
import numpy as np

from actionjax import scoring
from actionjax import workdir as workdir_lib
from actionjax.config import apply_overrides
from actionjax.training import trainer

VIZ_SAMPLES = 2  # test samples drawn by --viz (skeleton / clip animations)


def evaluate_workdir(workdir: str, *, split: str | None = None, checkpoint: str | int = "latest",
                     num_clips: int | None = None, overrides=(), viz: bool = False) -> dict:
  """Evaluates a checkpoint of `workdir` on `split`; writes `<workdir>/eval/<split>/`:
  metrics.json (top1, top5, mean_class_accuracy, num_samples, step, checkpoint, num_clips),
  confusion.npy, confusion.png (class names when the data knows them) and scores.npz; with `viz`
  also the figures of `actionjax.viz.write_eval_figures` (their paths in the result's "viz")."""
  config = workdir_lib.load_config(workdir)
  apply_overrides(config, overrides)
  split = split or config.data.eval_split
  num_clips = num_clips or config.data.num_clips
  setup, state, step, config = workdir_lib.restore(workdir, checkpoint, config)
  # The batch shards over this host's devices, which may outnumber the training run's: round it
  # up to a multiple (the pipeline pads the last batch with rows marked invalid).
  data = setup.mesh.shape["data"]
  batch = -(-(config.train.eval_batch_size or config.train.batch_size) // data) * data
  pipeline = trainer.make_pipeline(config, split, train=False, batch_size=batch, num_clips=num_clips)
  use_ema = config.train.ema_decay > 0 and not setup.uses_ema
  names, labels, logits = trainer.eval_logits(setup, state, pipeline, use_ema)
  out_dir = os.path.join(os.path.abspath(workdir), "eval", split)
  metrics = {}
  if jax.process_index() == 0:
    metrics = scoring.save_results(out_dir, names, labels, logits, pipeline.info.get("class_names"),
                                        extra={"step": int(step), "checkpoint": str(checkpoint),
                                               "num_clips": int(num_clips), "split": split})
    if viz:
      metrics["viz"] = _write_figures(out_dir, setup, state, config, split, use_ema, labels, logits,
                                      pipeline.info)
  metrics["out_dir"] = out_dir
  return metrics


def _write_figures(out_dir, setup, state, config, split, use_ema, labels, logits, info) -> list[str]:
  """The `--viz` figures. Sample figures need the weights on this host, so a multi-process run
  writes only those made from the gathered predictions."""
  from actionjax import viz
  model = samples = None
  if jax.process_count() == 1:
    model = workdir_lib.model_from_state(setup, state, use_ema)
    samples = _viz_samples(config, split, VIZ_SAMPLES)
  return viz.write_eval_figures(out_dir, labels=labels, logits=logits, class_names=info.get("class_names"),
                                model=model, config=config, samples=samples, info=info,
                                num_samples=VIZ_SAMPLES)


def _viz_samples(config, split: str, count: int) -> dict:
  """The first `count` samples of `split` (one clip each): model-ready `inputs`, `names`, `labels`
  and what to draw: the raw `clips` of video, the joint coordinates (`positions`) of skeletons,
  read again with data.stream='joint' when the model reads bones or motion."""
  from actionjax.training.video_inputs import model_inputs
  batch = next(iter(trainer.make_pipeline(config, split, train=False, batch_size=count)))
  keep = np.flatnonzero(batch["valid"])
  samples = {"inputs": np.asarray(model_inputs(batch["inputs"][keep], config), np.float32),
             "names": trainer.decode_names(trainer.encode_names(batch["name"][keep])),
             "labels": batch["label"][keep]}
  if config.data.get("modalities"):
    samples["clips"] = batch["inputs"][keep]
  elif config.data.stream != "joint":
    joint = config.copy_and_resolve_references()
    joint.data.stream = "joint"
    samples["positions"] = next(iter(trainer.make_pipeline(joint, split, train=False, batch_size=count)))["inputs"][keep]
  return samples
