"""`actionjax demo`: the whole product in one command on a synthetic NTU-format dataset.

raw `.skeleton` files -> `prepare` -> train the demo FG-STFormer -> evaluate (metrics, confusion
matrix PNG) -> export to PyTorch (and check the exported model against JAX) -> a summary."""
from __future__ import annotations

import os
import time

import numpy as np

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "fgstformer.py")
SAMPLES_PER_CLASS = 40


def _banner(msg: str) -> None:
  print(f"\n== {msg}", flush=True)


def run_demo(workdir: str, overrides=(), samples_per_class: int = SAMPLES_PER_CLASS) -> int:
  from actionjax import config as config_lib
  from actionjax import export
  from actionjax.eval_cli import evaluate_workdir
  from actionjax.training import trainer
  from data_pipelines import prepare, synthetic

  start = time.time()
  workdir = os.path.abspath(workdir)
  raw_dir, data_dir, run_dir = (os.path.join(workdir, d) for d in ("raw", "records", "run"))
  config = config_lib.load(f"{_config_path()}:demo", overrides)
  config.data.dir, config.data.synthetic = data_dir, ""

  _banner(f"1/5 synthetic NTU RGB+D raw files -> {raw_dir}")
  if not os.path.isdir(raw_dir) or not os.listdir(raw_dir):
    files = synthetic.write_ntu(raw_dir, num_classes=config.model.num_classes, samples_per_class=samples_per_class,
                                seed=config.seed)
    print(f"wrote {len(files)} .skeleton files ({config.model.num_classes} classes)")
  else:
    print("reusing existing raw files")

  _banner(f"2/5 actionjax prepare ntu60 --raw_dir {raw_dir} --out_dir {data_dir}")
  if not os.path.exists(os.path.join(data_dir, "dataset_info.json")):
    summary = prepare.prepare("ntu60", raw_dir, data_dir, workers=1, progress=True)
    if not summary["ok"]:
      print(f"demo: preparing the synthetic data failed; see {data_dir}/rejected.jsonl")
      return 1
  else:
    print("reusing prepared records")

  _banner(f"3/5 actionjax train --config configs/fgstformer.py:demo --workdir {run_dir}")
  trainer.train(config, run_dir)

  _banner(f"4/5 actionjax evaluate --workdir {run_dir}")
  metrics = evaluate_workdir(run_dir)

  _banner("5/5 actionjax export --to torch")
  pt = export.export_file(run_dir, to="torch", out=os.path.join(workdir, "fgstformer_demo.pt"))
  parity = _parity(run_dir)

  wall = time.time() - start
  print(f"""
== done in {wall / 60:.1f} min
  top-1 {metrics['top1']:.3f}   top-5 {metrics['top5']:.3f}   mean-class {metrics['mean_class_accuracy']:.3f}   ({metrics['num_samples']} test samples)
  raw data        {raw_dir}
  records         {data_dir}
  run (ckpts, TB) {run_dir}    tensorboard --logdir {run_dir}/tensorboard
  metrics         {metrics['out_dir']}/metrics.json
  confusion PNG   {metrics['out_dir']}/confusion.png
  scores          {metrics['out_dir']}/scores.npz
  PyTorch weights {pt}   (max |logit diff| vs JAX: {parity:.2e})
  next: actionjax.load('{run_dir}') in Python, or README.md for real datasets""")
  return 0


def _config_path() -> str:
  if os.path.isfile(DEMO_CONFIG):
    return DEMO_CONFIG
  return os.path.join(os.getcwd(), "configs", "fgstformer.py")


def _parity(run_dir: str) -> float:
  """Max |logit| difference between the exported PyTorch model and the JAX model on random input."""
  import torch
  import actionjax
  from actionjax import export
  model, config = actionjax.load(run_dir)
  d = config.data
  x = np.random.default_rng(0).standard_normal((2, d.max_persons, d.num_frames, d.num_joints, d.channels)).astype(np.float32)
  jax_logits = actionjax.predict(model, x)
  with torch.no_grad():
    torch_logits = export.to_torch(run_dir)(torch.from_numpy(x))
  torch_logits = torch_logits["logits"] if isinstance(torch_logits, dict) else torch_logits
  return float(np.max(np.abs(torch_logits.numpy() - jax_logits)))
