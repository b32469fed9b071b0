"""The `actionjax` command: train, evaluate, ensemble, prepare, export, demo, bench.

Errors people can fix print one line naming the problem and the fix, and exit non-zero;
`--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys

from actionjax import logs

_EPILOG = "Docs: README.md (quick start, one section per command) and docs/architecture.md."


def _add_distributed(p: argparse.ArgumentParser) -> None:
  g = p.add_argument_group("multi-process (multi-host) runs")
  g.add_argument("--coordinator_address", default=None, help="host:port of process 0 (jax.distributed)")
  g.add_argument("--num_processes", type=int, default=None, help="total processes")
  g.add_argument("--process_id", type=int, default=None, help="this process's index")
  g.add_argument("--distributed", action="store_true",
                 help="call jax.distributed.initialize() with cluster auto-detection (SLURM, TPU pods, ...)")


def _init_distributed(args) -> None:
  if not (args.coordinator_address or args.distributed):
    return
  import jax
  if args.coordinator_address and jax.config.jax_platforms in (None, "", "cpu"):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=args.coordinator_address, num_processes=args.num_processes,
                             process_id=args.process_id)


def _cmd_train(args) -> int:
  from actionjax import config as config_lib
  from actionjax import host_memory
  config = config_lib.load(args.config, args.overrides)
  host_memory.apply(config)  # before JAX starts its threads
  _init_distributed(args)
  from actionjax import api
  result = api.train(config, args.workdir, quiet=args.quiet)
  import jax
  if jax.process_index() == 0:
    tail = f"; eval top-1 {result['eval']['top1']:.4f}" if "eval" in result else ""
    print(f"{'stopped (SIGTERM)' if result['stopped_by'] == 'sigterm' else 'finished'} at step {result['step']}"
          f"; workdir {os.path.abspath(args.workdir)}{tail}")
  return 0


def _cmd_evaluate(args) -> int:
  _init_distributed(args)
  from actionjax.eval_cli import evaluate_workdir
  metrics = evaluate_workdir(args.workdir, split=args.split, checkpoint=args.checkpoint, num_clips=args.num_clips,
                             overrides=args.overrides, viz=args.viz)
  import jax
  if jax.process_index() == 0:
    print(f"top1 {metrics['top1']:.4f}  top5 {metrics['top5']:.4f}  mean-class {metrics['mean_class_accuracy']:.4f}"
          f"  ({metrics['num_samples']} samples) -> {metrics['out_dir']}")
    if args.viz:
      print(f"figures: {', '.join(os.path.basename(p) for p in metrics['viz'])}")
  return 0


def _cmd_ensemble(args) -> int:
  import json
  from actionjax import scoring
  names, labels, logits = scoring.ensemble(args.scores, args.weights)
  extra = {"scores": list(args.scores), "weights": list(args.weights or [1.0] * len(args.scores))}
  if args.out_dir:
    metrics = scoring.save_results(args.out_dir, names, labels, logits, extra=extra)
  else:
    metrics = scoring.compute_metrics(logits, labels)
    metrics.pop("confusion")
  print(json.dumps({k: metrics[k] for k in ("top1", "top5", "mean_class_accuracy", "num_samples")}))
  return 0


def _cmd_prepare(args) -> int:
  from data_pipelines import prepare
  return prepare.run(args)


def _cmd_export(args) -> int:
  from actionjax import export
  if args.to == "onnx":
    from actionjax.export import onnx as onnx_export
    path = export.to_onnx(args.workdir, args.out, checkpoint=args.checkpoint)
    print(f"wrote {path} ({onnx_export.summary(path)})")
    return 0
  path = export.export_file(args.workdir, to=args.to, out=args.out, checkpoint=args.checkpoint)
  print(f"wrote {path}")
  return 0


def _cmd_demo(args) -> int:
  from actionjax.demo import run_demo
  return run_demo(args.workdir, overrides=args.overrides, samples_per_class=args.samples_per_class)


def _cmd_bench(args) -> int:
  from actionjax.bench import run_bench
  run_bench(args.config, args.overrides, batch_size=args.batch_size, steps=args.steps, out=args.out)
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="actionjax", description="Action recognition in JAX/Flax NNX.",
                                   epilog=_EPILOG)
  parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

  p = sub.add_parser("train", help="train (or resume) a model", epilog=_EPILOG,
                     description="Train a config in a workdir; an existing checkpoint there is resumed exactly."
                     " Overrides: --config.train.batch_size=64 (any key of the config).")
  p.add_argument("--config", required=True, help="configs/<model>.py:<variant>[,key=value...]")
  p.add_argument("--workdir", required=True, help="checkpoints, logs and the resolved config go here")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  _add_distributed(p)
  p.set_defaults(func=_cmd_train)

  p = sub.add_parser("evaluate", help="evaluate a trained workdir", epilog=_EPILOG,
                     description="Top-1/top-5/mean-class accuracy, confusion matrix (.npy, .png) and per-sample"
                     " scores into <workdir>/eval/<split>/.")
  p.add_argument("--workdir", required=True)
  p.add_argument("--split", default=None, help="split to evaluate (default: the config's data.eval_split)")
  p.add_argument("--checkpoint", default="latest", help="latest | best | STEP")
  p.add_argument("--num_clips", type=int, default=None, help="clips averaged per sample (default: data.num_clips)")
  p.add_argument("--viz", action="store_true",
                 help="also write figures there: per-class accuracy, skeleton / clip animations of two test"
                 " samples, FG-STFormer's focal joints, an attention map (README: Visualisation)")
  _add_distributed(p)
  p.set_defaults(func=_cmd_evaluate)

  p = sub.add_parser("ensemble", help="fuse per-sample scores of several runs", epilog=_EPILOG,
                     description="Weighted sum of logits from scores.npz files, aligned by sample name;"
                     " mismatched sample sets or labels are refused.")
  p.add_argument("--scores", nargs="+", required=True, help="scores.npz files from `actionjax evaluate`")
  p.add_argument("--weights", nargs="+", type=float, default=None, help="one weight per file (default: equal)")
  p.add_argument("--out_dir", default=None, help="also write metrics.json, confusion and fused scores here")
  p.set_defaults(func=_cmd_ensemble)

  p = sub.add_parser("prepare", help="convert a raw dataset release to TFRecords", epilog=_EPILOG)
  from data_pipelines import prepare
  prepare.add_arguments(p)
  p.set_defaults(func=_cmd_prepare)

  p = sub.add_parser("export", help="export a trained model to PyTorch or ONNX", epilog=_EPILOG,
                     description="Writes a state_dict (.pt, or .safetensors by extension) for the pure-PyTorch"
                     " mirror (--to torch) or MAMP's evaluation model (--to mamp, FD-MAE only), or the"
                     " mirror as an ONNX graph (--to onnx; needs the onnx extra), checked in onnxruntime.")
  p.add_argument("--workdir", required=True)
  p.add_argument("--to", choices=("torch", "mamp", "onnx"), default="torch")
  p.add_argument("--out", required=True, help="output file (.pt or .safetensors; .onnx with --to onnx)")
  p.add_argument("--checkpoint", default="latest", help="latest | best | STEP")
  p.set_defaults(func=_cmd_export)

  p = sub.add_parser("demo", help="the whole product in one command on synthetic data", epilog=_EPILOG,
                     description="Generates a synthetic NTU-format dataset, prepares it, trains the demo"
                     " FG-STFormer, evaluates, exports to PyTorch and prints where everything is.")
  p.add_argument("--workdir", default="actionjax_demo", help="where the demo writes (default ./actionjax_demo)")
  p.add_argument("--samples_per_class", type=int, default=40, help="synthetic samples per class (default 40)")
  p.set_defaults(func=_cmd_demo)

  p = sub.add_parser("bench", help="measure step throughput, compile time, memory and FLOPs", epilog=_EPILOG)
  p.add_argument("--config", required=True, help="configs/<model>.py:<variant>")
  p.add_argument("--batch_size", type=int, default=None, help="global batch (default: the config's)")
  p.add_argument("--steps", type=int, default=10, help="timed steady-state steps")
  p.add_argument("--out", default=None, help="JSON output file")
  p.set_defaults(func=_cmd_bench)
  return parser


def _error_types() -> tuple:
  from actionjax.config import ConfigError
  from actionjax.scoring import EnsembleError
  from actionjax.training.checkpoint import CheckpointError
  from actionjax.training.setup import InitError
  from actionjax.training.trainer import TrainError
  from actionjax.workdir import WorkdirError
  from actionjax.export import ExportError
  from data_pipelines.errors import DataError
  return (ConfigError, EnsembleError, CheckpointError, InitError, TrainError, WorkdirError, DataError,
          ExportError, FileNotFoundError)


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  if "--debug" in argv:  # library logs and tracebacks back (actionjax/logs.py)
    os.environ[logs.DEBUG_ENV] = "1"
  logs.quiet_native_logs()
  parser = build_parser()
  # `--config.a.b=v` overrides are collected apart from argparse's own options.
  overrides = [a for a in argv if a.startswith("--config.")]
  args = parser.parse_args([a for a in argv if not a.startswith("--config.")])
  args.overrides = overrides
  if args.debug:
    return args.func(args)
  try:
    with logs.quiet_absl():
      return args.func(args)
  except _error_types() as e:
    print(f"actionjax {args.command}: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print(f"actionjax {args.command}: interrupted", file=sys.stderr)
    return 130
  except Exception as e:  # anything else: still one line, the traceback behind --debug
    print(f"actionjax {args.command}: error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
          " (rerun with --debug for the traceback)", file=sys.stderr)
    return 1


if __name__ == "__main__":
  sys.exit(main())
