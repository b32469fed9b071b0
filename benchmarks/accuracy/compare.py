"""Compares reproduction runs (`reproduce.py` workdirs): one table row per run and one figure
with their curves overlaid, for ablations and before / after comparisons.

  python benchmarks/accuracy/compare.py runs/base runs/lr03 --labels "lr 0.01" "lr 0.03" \\
      --out compare.png [--at_epoch 10]

A run is a workdir, or the prefix of a run's saved copies `<prefix>.curve.json` and
`<prefix>.result.json` (how `benchmarks/results/accuracy/` keeps them once the workdir is gone).

Per run: epochs done; final and best test top-1 (with the best's epoch), final top-5 and
mean-class accuracy; the last epoch's train loss and accuracy; from result.json the training
split's top-1 without augmentation (`reproduce.py --eval_train`) and why a run stopped early (e.g.
the NaN guard); with --at_epoch E also test top-1 and train accuracy at epoch E (runs on one
schedule compared before it ends). Printed as a
Markdown table (percent); --json writes the same rows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def run_file(run: str, name: str) -> str:
  """`<run>/<name>.json` for a workdir, `<run>.<name>.json` for a saved run's prefix."""
  return os.path.join(run, f"{name}.json") if os.path.isdir(run) else f"{run}.{name}.json"


def load_curve(workdir: str) -> list[dict]:
  path = run_file(workdir, "curve")
  if not os.path.exists(path):
    raise SystemExit(f"error: {path} does not exist; run benchmarks/accuracy/reproduce.py with"
                     f" --workdir {workdir} first, or give a saved run's prefix (<prefix>.curve.json)")
  with open(path) as f:
    rows = json.load(f)
  if not rows:
    raise SystemExit(f"error: {path} has no evaluated epoch yet")
  return rows


def load_result(workdir: str) -> dict:
  path = run_file(workdir, "result")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def summary(rows: list[dict], at_epoch: float | None = None, result: dict | None = None) -> dict:
  result = result or {}
  last = rows[-1]
  best = max(rows, key=lambda r: r["test_top1"])
  out = {"epochs": last["epoch"], "top1": last["test_top1"], "best_top1": best["test_top1"],
         "best_epoch": best["epoch"], "top5": last.get("test_top5"),
         "mean_class": last.get("test_mean_class_accuracy"), "train_loss": last.get("train_loss"),
         "train_accuracy": last.get("train_accuracy"),
         "train_split_top1": (result.get("train_split") or {}).get("top1"),
         "stopped": (result.get("error") or "").split(";")[0] or None}
  if at_epoch is not None:
    row = next((r for r in rows if abs(r["epoch"] - at_epoch) < 1e-6), None)
    out["at_epoch"] = at_epoch
    out["top1_at"] = row["test_top1"] if row else None
    out["train_accuracy_at"] = row.get("train_accuracy") if row else None
  return out


def table(labels: list[str], summaries: list[dict]) -> str:
  pct = lambda v: "-" if v is None else f"{100 * v:.1f}"
  at = summaries[0].get("at_epoch")
  head = ["run", "epochs", "top-1", "best top-1 (epoch)", "top-5", "mean-class", "train loss",
          "train acc.", "train split top-1 (no aug.)"]
  if at is not None:
    head += [f"top-1 at {at:g}", f"train acc. at {at:g}"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for label, s in zip(labels, summaries):
    cells = [label, f"{s['epochs']:g}", pct(s["top1"]), f"{pct(s['best_top1'])} ({s['best_epoch']:g})",
             pct(s["top5"]), pct(s["mean_class"]),
             "-" if s["train_loss"] is None else f"{s['train_loss']:.3f}", pct(s["train_accuracy"]),
             pct(s["train_split_top1"])]
    if at is not None:
      cells += [pct(s["top1_at"]), pct(s["train_accuracy_at"])]
    if s["stopped"]:
      cells[1] += f" (stopped: {s['stopped']})"
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def plot(labels: list[str], curves: list[list[dict]], path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.2))
  for i, (label, rows) in enumerate(zip(labels, curves)):
    color = f"C{i}"
    epochs = [r["epoch"] for r in rows]
    ax_loss.plot(epochs, [r.get("train_loss", float("nan")) for r in rows], "o-", color=color, label=label)
    ax_acc.plot(epochs, [100 * r["test_top1"] for r in rows], "s-", color=color, label=f"{label}: test top-1")
    ax_acc.plot(epochs, [100 * r.get("train_accuracy", float("nan")) for r in rows], "o--", color=color,
                alpha=0.6, label=f"{label}: train")
  ax_loss.set(xlabel="epoch", ylabel="train cross-entropy (epoch mean)")
  ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100))
  for ax in (ax_loss, ax_acc):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("workdirs", nargs="+", help="reproduce.py workdirs (each holds curve.json), or saved runs' prefixes")
  parser.add_argument("--labels", nargs="+", default=None, help="one per run (default: the workdir or prefix names)")
  parser.add_argument("--at_epoch", type=float, default=None, help="also compare at this epoch")
  parser.add_argument("--out", default="", help="PNG of the overlaid curves")
  parser.add_argument("--json", default="", help="write the rows as JSON")
  args = parser.parse_args(argv)
  labels = args.labels or [os.path.basename(os.path.normpath(w)) for w in args.workdirs]
  if len(labels) != len(args.workdirs):
    parser.error(f"{len(labels)} labels for {len(args.workdirs)} workdirs")
  curves = [load_curve(w) for w in args.workdirs]
  summaries = [summary(c, args.at_epoch, load_result(w)) for c, w in zip(curves, args.workdirs)]
  print(table(labels, summaries))
  if args.json:
    with open(args.json, "w") as f:
      json.dump([{"label": l, "workdir": w, **s} for l, w, s in zip(labels, args.workdirs, summaries)], f, indent=1)
  if args.out:
    plot(labels, curves, args.out)
    print(f"curves: {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
