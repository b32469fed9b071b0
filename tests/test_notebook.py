"""notebooks/quickstart: the .ipynb is the jupytext form of the .py script, and the whole notebook
runs in a Jupyter kernel at its small sizes (ACTIONJAX_NOTEBOOK_SMALL=1), as in Colab's CPU
runtime (one device); a cell that raises fails the test."""
import pathlib
import re

import jupytext
import nbformat
from nbclient import NotebookClient
from xla_env import xla_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart"


def test_ipynb_is_made_from_the_script():
  script = jupytext.read(NOTEBOOK.with_suffix(".py"))
  notebook = nbformat.read(NOTEBOOK.with_suffix(".ipynb"), as_version=4)
  cells = lambda nb: [(c.cell_type, c.source) for c in nb.cells]
  assert cells(notebook) == cells(script), "run: jupytext --sync notebooks/quickstart.py"


def _text(cell) -> str:
  return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
  monkeypatch.setenv("ACTIONJAX_NOTEBOOK_SMALL", "1")
  monkeypatch.setenv("ACTIONJAX_NOTEBOOK_DIR", str(tmp_path / "runs"))
  monkeypatch.setenv("ACTIONJAX_CACHE", str(tmp_path / "cache"))  # the synthetic video's raw clips
  monkeypatch.setenv("XLA_FLAGS", xla_flags(1))  # the kernel's devices
  notebook = nbformat.read(NOTEBOOK.with_suffix(".ipynb"), as_version=4)
  NotebookClient(notebook, timeout=900, kernel_name="python3",
                 resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
  out = "\n".join(_text(c) for c in notebook.cells if c.cell_type == "code")
  diffs = re.findall(r"(\w+): (PyTorch|ONNX) vs JAX, max relative difference ([0-9.e+-]+)", out)
  assert {(m, w) for m, w, _ in diffs} == {(m, w) for m in ("fgstformer", "xstft") for w in ("PyTorch", "ONNX")}
  assert all(float(d) < 1e-4 for _, _, d in diffs), diffs
  figures = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
             or "image/gif" in o.get("data", {})]
  assert len(figures) == 5  # 4 skeleton figures + the video clip grid
  for name in ("per_class_accuracy.png", "confusion.png", "focal_joints_0.gif", "attention.png"):
    assert (tmp_path / "runs" / "fgstformer" / "eval" / "test" / name).stat().st_size > 1000, name
