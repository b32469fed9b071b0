# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # actionjax quick start
#
# Train, evaluate, look at and export two models from a notebook, on synthetic data in the
# genuine raw formats (no download):
#
# 1. **Skeletons**: NTU RGB+D `.skeleton` files -> TFRecords -> FG-STFormer -> evaluation with
#    figures -> PyTorch and ONNX, both checked against JAX.
# 2. **Video**: NTU-format RGB `.avi` clips -> records -> an X-STFT network -> the same.
#
# Everything here is the Python API (`actionjax.train`, `actionjax.evaluate`, `actionjax.load`,
# `actionjax.export`, `actionjax.viz`); the command line runs the same code. The notebook is
# kept as `notebooks/quickstart.py` (jupytext percent script), and `quickstart.ipynb` is made
# from it (`jupytext --sync notebooks/quickstart.py`); the test suite executes it.

# %% [markdown]
# ## 0. Install (Colab only)
# In Colab this cell clones actionjax and installs it with the ONNX extra; elsewhere it does
# nothing (install with `pip install -e ".[onnx]"` from a clone, as the README says).

# %%
import os
import subprocess
import sys
from pathlib import Path

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
  REPO = os.environ.get("ACTIONJAX_REPO", "https://github.com/actionjax/actionjax.git")
  if not Path("/content/actionjax").exists():
    subprocess.run(["git", "clone", "-q", "--depth", "1", REPO, "/content/actionjax"], check=True)
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/actionjax[onnx]"], check=True)
  sys.path.insert(0, "/content/actionjax")  # the running kernel does not see a fresh editable install
  os.chdir("/content/actionjax")
else:  # run from the repository (or its notebooks/ folder): the configs are files there
  os.chdir(next(p for p in (Path.cwd(), Path.cwd().parent) if (p / "configs").is_dir()))
print("working in", Path.cwd())

# %% [markdown]
# ## 1. Devices, and what to expect on them

# %%
import jax

import actionjax

print("JAX", jax.__version__, "| devices:", jax.devices())
ADVICE = {
    "cpu": "CPU runtime: the sizes below train in a few minutes. For real datasets use a GPU or TPU"
           " runtime (Runtime > Change runtime type).",
    "gpu": "GPU runtime: raise the step counts below; add train__dtype='bfloat16' on A100/H100/L4.",
    "tpu": "TPU runtime: every TPU core is a device; the batch is split over them"
           " (train.batch_size must divide by jax.device_count()); bfloat16 is native.",
}
print(ADVICE.get(jax.default_backend(), ""))

# ACTIONJAX_NOTEBOOK_SMALL=1 (set by the test suite) shrinks models and step counts to a smoke test.
SMALL = os.environ.get("ACTIONJAX_NOTEBOOK_SMALL", "0") == "1"
WORK = Path(os.environ.get("ACTIONJAX_NOTEBOOK_DIR", "notebook_runs")).absolute()
print("small run" if SMALL else "full run", "| outputs in", WORK)

# %% [markdown]
# ## 2. Skeletons: synthetic NTU RGB+D files -> TFRecords
# `data_pipelines.synthetic` writes `.skeleton` files byte-compatible with the NTU release (8
# classes of distinct motions); `prepare` is `actionjax prepare ntu60`: the cross-subject
# split, rejected files logged with their reason, one TFRecord set per split.

# %%
from data_pipelines import prepare, synthetic

synthetic.write_ntu(str(WORK / "ntu_raw"), num_classes=8, samples_per_class=12 if SMALL else 40, seed=0)
summary = prepare.prepare("ntu60", str(WORK / "ntu_raw"), str(WORK / "ntu_records"), workers=1)
print("samples per split:", summary["protocols"], "| rejected:", summary["rejected"])

# %% [markdown]
# ## 3. Train FG-STFormer through the Python API
# `configs/fgstformer.py:demo` is a small FG-STFormer; keyword arguments override config keys
# (`train__num_steps` = `--config.train.num_steps`). Rerunning the cell resumes from the
# checkpoint in the workdir.

# %%
SKELETON_RUN = str(WORK / "fgstformer")
small = dict(train__num_steps=8, train__log_every_steps=4, train__checkpoint_every_steps=8,
             model__depths=(1, 1), model__channels=(16, 32), data__num_frames=16) if SMALL else {}
result = actionjax.train("configs/fgstformer.py:demo", SKELETON_RUN, data__dir=str(WORK / "ntu_records"), **small)
print(result["step"], "steps; last logged:", result["train"])

# %% [markdown]
# ## 4. Evaluate, and look
# `actionjax.evaluate` returns the metrics and, with `viz=True`, writes the figures of
# `actionjax.viz` beside them: per-class accuracy, the confusion matrix, the test skeletons
# animated, FG-STFormer's focal joints over time (its Fig. 5) and an attention map.

# %%
from IPython.display import Image, display

metrics = actionjax.evaluate(SKELETON_RUN, viz=True)
print({k: metrics[k] for k in ("top1", "top5", "mean_class_accuracy", "num_samples")})
for name in ("per_class_accuracy.png", "confusion.png", "focal_joints_0.gif", "attention.png"):
  path = Path(metrics["out_dir"]) / name
  print(name)
  display(Image(filename=str(path)))

# %% [markdown]
# ## 5. Export to PyTorch and ONNX, and check both against JAX
# The same test samples through the JAX model, the PyTorch mirror and onnxruntime.

# %%
import numpy as np
import onnxruntime
import torch

from actionjax.training import trainer


def check_exports(run: str, name: str, model_inputs=lambda x, c: x) -> None:
  model, config = actionjax.load(run)
  batch = next(iter(trainer.make_pipeline(config, config.data.eval_split, train=False, batch_size=4)))
  x = np.asarray(model_inputs(batch["inputs"], config), np.float32)
  want = actionjax.predict(model, x)  # model(x)["logits"], compiled as one program
  torch_model = actionjax.export.to_torch(run)
  with torch.no_grad():
    got_torch = torch_model(torch.from_numpy(x))
  got_torch = (got_torch["logits"] if isinstance(got_torch, dict) else got_torch).numpy()
  onnx_path = actionjax.export.to_onnx(run, str(WORK / f"{name}.onnx"))
  session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
  got_onnx = session.run(None, {"inputs": x})[0]
  scale = np.abs(want).max()
  for what, got in (("PyTorch", got_torch), ("ONNX", got_onnx)):
    rel = np.abs(got - want).max() / scale
    print(f"{name}: {what} vs JAX, max relative difference {rel:.1e}")
    assert rel < 1e-4, (what, rel)
  print("predictions (JAX, ONNX):", want.argmax(1), got_onnx.argmax(1), "labels:", batch["label"])


check_exports(SKELETON_RUN, "fgstformer")

# %% [markdown]
# ## 6. Video: synthetic NTU RGB clips -> an X-STFT network
# `configs/xstft.py:demo` names a synthetic dataset: when `data.dir` holds no records, the
# trainer writes NTU-format `.avi` clips (H.264, with skeletons and masked depth beside them),
# prepares them and trains. Batches are uint8 clips, normalised inside the jitted step.

# %%
from actionjax.training.video_inputs import model_inputs

VIDEO_RUN = str(WORK / "xstft")
small = dict(train__num_steps=6, train__log_every_steps=3, model__modules=((8, 8, 16, 4, 8, 8),),
             data__image_size=32, data__num_frames=6) if SMALL else {}
result = actionjax.train("configs/xstft.py:demo", VIDEO_RUN, data__dir=str(WORK / "video_records"),
                         model__num_classes=4, **small)
metrics = actionjax.evaluate(VIDEO_RUN, viz=True)
print({k: metrics[k] for k in ("top1", "top5", "num_samples")})
display(Image(filename=str(Path(metrics["out_dir"]) / "clip_0.png")))
check_exports(VIDEO_RUN, "xstft", model_inputs)

# %% [markdown]
# ## Next
# - Real data: `actionjax prepare ntu60 --raw_dir ...` (README, "Commands"), then a paper config,
#   e.g. `configs/fgstformer.py:ntu60_xsub`.
# - Scale out: `docs/launch.md` (TPU pods, multi-GPU, SLURM, Kubernetes).
# - Every figure function is in `actionjax.viz` and takes `path=None` to return the figure or
#   animation (`anim.to_jshtml()` plays in the notebook).
