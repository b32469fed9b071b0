"""Reproduces a paper's accuracy on a genuine dataset release: prepares the release, trains a
config with an evaluation at the end of every epoch, and writes the learning curve.

  python benchmarks/accuracy/reproduce.py --dataset nwucla --raw_dir /data/nwucla/all_sqe \\
      --config configs/fgstformer.py:nwucla --workdir runs/ucla_joint [--config.key=value ...]

Into --workdir, beside the trainer's checkpoints and metrics.jsonl:
  curve.json   per epoch: step, learning rate, train loss and accuracy (means over the epoch's
               steps), training samples/s, test top-1 / top-5 / mean-class accuracy and the
               evaluation's seconds
  curve.png    the same in two panels
  result.json  final and best test metrics, the config spec and overrides, the wall time of each
               invocation and their sum, and the machine (CPU, cores, devices, load, versions);
               with --eval_train also the final model on the training split without augmentation
               (train_split): under- or over-fitting, told apart from the augmented batches' accuracy
Rerunning the same command resumes an interrupted run exactly (the trainer's checkpoints) and adds
its wall time; on a finished run it only rewrites the curve. The records are prepared once into
--data_dir (default <workdir>/data) and reused.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

EVAL_KEYS = ("top1", "top5", "mean_class_accuracy")


def epoch_curve(metrics_path: str, steps_per_epoch: int) -> list[dict]:
  """Per-epoch rows from the trainer's metrics.jsonl (the last record of a step wins, so a step
  repeated after a resume is counted once)."""
  by_step: dict[int, dict] = {}
  if not os.path.exists(metrics_path):
    return []
  with open(metrics_path) as f:
    for line in f:
      rec = json.loads(line)
      by_step.setdefault(rec["step"], {}).update(rec)
  rows = []
  for step in sorted(by_step):
    rec = by_step[step]
    if "eval/top1" not in rec:
      continue
    row = {"epoch": step / steps_per_epoch, "step": step}
    for key in ("loss", "accuracy", "lr", "samples_per_s"):
      if f"train/{key}" in rec:
        row[f"train_{key}"] = rec[f"train/{key}"]
    row.update({f"test_{k}": rec[f"eval/{k}"] for k in EVAL_KEYS + ("seconds",) if f"eval/{k}" in rec})
    rows.append(row)
  return rows


def plot_curve(rows: list[dict], path: str, title: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  epochs = [r["epoch"] for r in rows]
  fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
  ax_loss.plot(epochs, [r.get("train_loss") for r in rows], "o-", label="train loss")
  ax_loss.set_xlabel("epoch")
  ax_loss.set_ylabel("cross-entropy")
  ax_loss.grid(alpha=0.3)
  ax_loss.legend()
  ax_acc.plot(epochs, [100 * r.get("train_accuracy", float("nan")) for r in rows], "o-", label="train (epoch mean)")
  ax_acc.plot(epochs, [100 * r["test_top1"] for r in rows], "s-", label="test top-1")
  ax_acc.set_xlabel("epoch")
  ax_acc.set_ylabel("accuracy (%)")
  ax_acc.set_ylim(0, 100)
  ax_acc.grid(alpha=0.3)
  ax_acc.legend(loc="lower right")
  if rows:
    last = rows[-1]
    ax_acc.set_title(f"final test top-1 {100 * last['test_top1']:.1f}%")
  fig.suptitle(textwrap.fill(title, 150), fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def machine() -> dict:
  import jax
  import flax
  return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
          "cpu_count": os.cpu_count(), "devices": [str(d) for d in jax.devices()],
          "python": platform.python_version(), "jax": jax.__version__, "flax": flax.__version__,
          "host": platform.node()}


def steps_per_epoch(config, info: dict) -> int:
  from actionjax.training.trainer import epoch_steps
  return epoch_steps(config, info["protocols"][config.data.protocol][config.data.train_split])


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--dataset", required=True, help="dataset name of `actionjax prepare` (e.g. nwucla)")
  parser.add_argument("--raw_dir", required=True, help="the genuine release as shipped")
  parser.add_argument("--config", required=True, help="configs/<model>.py:<variant>")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--data_dir", default="", help="prepared records (default: <workdir>/data)")
  parser.add_argument("--workers", type=int, default=1, help="conversion processes")
  parser.add_argument("--devices", type=int, default=0, help="use the first N devices (default: all)")
  parser.add_argument("--quiet", action="store_true", help="no progress bar")
  parser.add_argument("--eval_train", action="store_true",
                      help="after training, also evaluate the training split as the test split is"
                           " (no augmentation, eval mode) into result.json's train_split")
  overrides = [a for a in argv if a.startswith("--config.")]
  args = parser.parse_args([a for a in argv if not a.startswith("--config.")])

  from actionjax import api, logs
  from actionjax import config as config_lib
  from data_pipelines import prepare as prepare_lib
  from data_pipelines import records
  logs.quiet_native_logs()

  workdir = os.path.abspath(args.workdir)
  data_dir = os.path.abspath(args.data_dir or os.path.join(workdir, "data"))
  info_path = os.path.join(data_dir, records.INFO_FILE)
  if not os.path.exists(info_path):
    summary = prepare_lib.prepare(args.dataset, args.raw_dir, data_dir, workers=args.workers)
    if not summary.get("ok", True):
      print(f"error: preparing {args.raw_dir} rejected too many inputs; see {data_dir}/rejected.jsonl")
      return 1
  with open(info_path) as f:
    info = json.load(f)

  config = config_lib.load(args.config, [f"data.dir={data_dir}"] + overrides)
  epoch_steps = steps_per_epoch(config, info)
  per_epoch = [f"train.{k}={epoch_steps}" for k in ("eval_every_steps", "log_every_steps", "checkpoint_every_steps")]
  config_lib.apply_overrides(config, per_epoch)
  config_lib.apply_overrides(config, overrides)  # an explicit override still wins

  result_path = os.path.join(workdir, "result.json")
  previous = json.load(open(result_path)) if os.path.exists(result_path) else {}
  invocation = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_before": os.getloadavg()}
  t0 = time.time()
  error = None
  try:
    import jax
    out = api.train(config, workdir, quiet=args.quiet, devices=jax.devices()[:args.devices or None])
  except Exception as e:  # noqa: BLE001 - NaN guard, preemption: still write what was learned
    error, out = f"{type(e).__name__}: {e}", {}
  invocation.update(wall_s=round(time.time() - t0, 1), load_after=os.getloadavg(),
                    stopped_by=out.get("stopped_by", "error"))

  train_split = previous.get("train_split")
  if args.eval_train and error is None and out.get("stopped_by") != "sigterm":  # finished only
    m = api.evaluate(workdir, split=config.data.train_split)
    train_split = {k: m[k] for k in (*EVAL_KEYS, "num_samples", "step")}

  rows = epoch_curve(os.path.join(workdir, "metrics.jsonl"), epoch_steps)
  invocations = previous.get("invocations", []) + [invocation]
  best = max(rows, key=lambda r: r["test_top1"]) if rows else None
  result = {
      "config": args.config, "overrides": overrides, "dataset": args.dataset,
      "steps_per_epoch": epoch_steps, "epochs_done": rows[-1]["epoch"] if rows else 0,
      "final": {k: rows[-1][f"test_{k}"] for k in EVAL_KEYS} if rows else None,
      "best": {"epoch": best["epoch"], **{k: best[f"test_{k}"] for k in EVAL_KEYS}} if best else None,
      "wall_s": round(sum(i["wall_s"] for i in invocations), 1), "invocations": invocations,
      "machine": machine(), "error": error, "train_split": train_split,
  }
  with open(os.path.join(workdir, "curve.json"), "w") as f:
    json.dump(rows, f, indent=1)
  with open(result_path, "w") as f:
    json.dump(result, f, indent=1)
  plot_curve(rows, os.path.join(workdir, "curve.png"), f"{args.config} {' '.join(overrides)}".strip())
  if result["final"]:
    print(f"epoch {result['epochs_done']:g}: test top-1 {100 * result['final']['top1']:.2f}%"
          f" (best {100 * result['best']['top1']:.2f}% at epoch {result['best']['epoch']:g});"
          f" {workdir}/curve.png, result.json")
  if train_split and args.eval_train:
    print(f"training split without augmentation: top-1 {100 * train_split['top1']:.2f}%"
          f" ({train_split['num_samples']} samples)")
  if error:
    print(f"error: {error}")
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
