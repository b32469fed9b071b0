"""Evaluation researchers can trust: top-1, top-5, mean-class accuracy, the confusion matrix,
per-sample scores keyed by sample name, multi-clip averaging and score-level ensembles."""
from __future__ import annotations

import json
import os
from typing import Callable, Iterable, Sequence

import numpy as np

from actionjax.viz import plot_confusion  # the confusion figure lives with the other figures


class EnsembleError(ValueError):
  pass


def aggregate_clips(names: Sequence, labels: np.ndarray, logits: np.ndarray):
  """Mean of the logits of every clip of a sample (clips share a name); order of first sight."""
  index: dict = {}
  for n in names:
    index.setdefault(n, len(index))
  ids = np.fromiter((index[n] for n in names), np.int64, len(names))
  sums = np.zeros((len(index), logits.shape[1]), np.float64)
  np.add.at(sums, ids, logits)
  counts = np.bincount(ids, minlength=len(index))[:, None]
  out_labels = np.full(len(index), -1, np.int64)
  out_labels[ids] = labels
  for n, i in index.items():
    if np.any(labels[ids == i] != out_labels[i]):
      raise ValueError(f"clips of sample {n!r} carry different labels")
  return list(index), out_labels, (sums / counts).astype(np.float32)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
  cm = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(cm, (labels, preds), 1)
  return cm


def compute_metrics(logits: np.ndarray, labels: np.ndarray) -> dict:
  """top1, top5 (topk = min(5, classes)), mean_class_accuracy over classes present, num_samples."""
  num_classes = logits.shape[1]
  order = np.argsort(-logits, axis=1, kind="stable")
  top1 = order[:, 0] == labels
  k = min(5, num_classes)
  top5 = np.any(order[:, :k] == labels[:, None], axis=1)
  cm = confusion_matrix(labels, order[:, 0], num_classes)
  present = cm.sum(axis=1) > 0
  per_class = np.diag(cm)[present] / cm.sum(axis=1)[present]
  return {"top1": float(top1.mean()), "top5": float(top5.mean()),
          "mean_class_accuracy": float(per_class.mean()), "num_samples": int(len(labels)),
          "confusion": cm}


def predict(logits_fn: Callable[[dict], np.ndarray], batches: Iterable[dict]):
  """Runs `logits_fn` over an evaluation stream; drops padding rows; averages clips per name."""
  names, labels, logits = [], [], []
  for batch in batches:
    out = np.asarray(logits_fn(batch))
    valid = np.asarray(batch["valid"], bool)
    names.extend(np.asarray(batch["name"])[valid].tolist())
    labels.append(np.asarray(batch["label"])[valid])
    logits.append(out[valid])
  if not names:
    raise ValueError("the evaluation split yielded no samples")
  return aggregate_clips(names, np.concatenate(labels), np.concatenate(logits))


def save_results(out_dir: str, names: Sequence, labels: np.ndarray, logits: np.ndarray,
                 class_names: Sequence[str] | None = None, extra: dict | None = None) -> dict:
  """Writes metrics.json, confusion.npy/.png and scores.npz (names, labels, logits)."""
  os.makedirs(out_dir, exist_ok=True)
  metrics = compute_metrics(logits, labels)
  cm = metrics.pop("confusion")
  metrics.update(extra or {})
  np.save(os.path.join(out_dir, "confusion.npy"), cm)
  plot_confusion(cm, os.path.join(out_dir, "confusion.png"), class_names)
  str_names = np.array([n.decode() if isinstance(n, bytes) else str(n) for n in names])
  np.savez(os.path.join(out_dir, "scores.npz"), names=str_names, labels=labels, logits=logits)
  with open(os.path.join(out_dir, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=2)
  return metrics


def ensemble(score_files: Sequence[str], weights: Sequence[float] | None = None):
  """Weighted sum of softmax-free logits from several runs, aligned by sample name.

  Refuses sample sets that differ or labels that disagree (a silently misaligned ensemble is the
  classic source of wrong published numbers)."""
  if len(score_files) < 2:
    raise EnsembleError("an ensemble needs at least two --scores files")
  weights = [1.0] * len(score_files) if not weights else list(weights)
  if len(weights) != len(score_files):
    raise EnsembleError(f"{len(weights)} weights for {len(score_files)} score files")
  ref_names = ref_labels = total = None
  for path, w in zip(score_files, weights):
    with np.load(path) as z:
      names, labels, logits = z["names"].astype(str), z["labels"], z["logits"]
    if len(set(names)) != len(names):
      raise EnsembleError(f"{path} lists a sample more than once")
    order = np.argsort(names, kind="stable")
    names, labels, logits = names[order], labels[order], logits[order]
    if ref_names is None:
      ref_names, ref_labels, total = names, labels, w * logits.astype(np.float64)
      continue
    if len(names) != len(ref_names) or np.any(names != ref_names):
      only_a = sorted(set(ref_names) - set(names))[:3]
      only_b = sorted(set(names) - set(ref_names))[:3]
      raise EnsembleError(f"{path} holds a different sample set than {score_files[0]}"
                          f" (e.g. missing {only_a}, extra {only_b}); evaluate all runs on the same split")
    if np.any(labels != ref_labels):
      bad = str(ref_names[np.argmax(labels != ref_labels)])
      raise EnsembleError(f"{path} disagrees with {score_files[0]} on the label of {bad!r}")
    if logits.shape[1] != total.shape[1]:
      raise EnsembleError(f"{path} has {logits.shape[1]} classes, {score_files[0]} has {total.shape[1]}")
    total = total + w * logits
  return list(ref_names), ref_labels, total.astype(np.float32)
