"""Figures and animations of data, predictions and model internals (matplotlib).

- `animate_skeleton`: a 3D (or 2D) skeleton sequence as an animation (NTU 25-joint and NW-UCLA
  20-joint bone graphs, or a dataset's own `bone_pairs`).
- `animate_focal_joints`: FG-STFormer's focal joints over time on the skeleton (its Fig. 5).
- `capture_attention` / `plot_attention`: the attention maps of one layer for one sample.
- `plot_clip_grid` / `animate_clip`: the sampled frames of a video clip, depth beside RGB.
- `plot_per_class_accuracy`, `plot_confusion`: per-class accuracy bars, the confusion matrix.
- `write_eval_figures`: all that applies to a run, into its eval folder (`evaluate --viz`).

Figures are `matplotlib.figure.Figure`s on the Agg canvas, never made through pyplot: saving
switches no global backend, so notebooks keep their inline display. With `path=None` a function
returns its Figure or Animation (show an animation with
`IPython.display.HTML(anim.to_jshtml())`); a path ending in .gif writes a GIF (Pillow), .html a
self-contained HTML5 player, anything else an image. Pixel sizes are figsize x dpi exactly (no
tight bounding box). matplotlib is imported inside the functions, so `import actionjax` stays fast.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from actionjax.api import _jit_once

# Plot axes for camera coordinates (x right, y up, z away from the camera): x, depth, height.
_VIEW_3D = (0, 2, 1)


# ----------------------------------------------------------------------------------- helpers

def _figure(figsize, dpi: int):
  """A Figure on its own Agg canvas (no pyplot, no global state)."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=figsize, dpi=dpi)
  FigureCanvasAgg(fig)
  return fig


def _save_figure(fig, path: str | None):
  if path is None:
    return fig
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=fig.dpi)
  return path


def _animation(fig, draw, frames: int, fps: float):
  from matplotlib.animation import FuncAnimation
  return FuncAnimation(fig, draw, frames=frames, interval=1000.0 / fps, blit=False,
                       cache_frame_data=False)


def _save_animation(anim, path: str | None, fps: float, dpi: int):
  """GIF (Pillow writer; no ffmpeg needed) or an HTML5 player page, by the extension."""
  if path is None:
    return anim
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  ext = os.path.splitext(path)[1].lower()
  if ext == ".gif":
    from matplotlib.animation import PillowWriter
    anim.save(path, writer=PillowWriter(fps=fps), dpi=dpi)
  elif ext in (".html", ".htm"):
    with open(path, "w") as f:
      f.write(anim.to_jshtml(fps=fps))
  else:
    raise ValueError(f"{path}: animations are written as .gif or .html")
  return path


# ----------------------------------------------------------------------------- skeletons

def skeleton_edges(num_joints: int, bone_pairs: Sequence[Sequence[int]] | None = None) -> list[tuple[int, int]]:
  """0-based (joint, parent) edges to draw: from 1-based `bone_pairs` (dataset_info.json's), else
  the NTU RGB+D (25 joints) or NW-UCLA (20 joints) graph of data_pipelines.formats. Self-pairs
  (a root's zero bone) are dropped."""
  if bone_pairs is None:
    from data_pipelines.formats import ntu, nwucla
    known = {ntu.NUM_JOINTS: ntu.BONE_PAIRS, nwucla.NUM_JOINTS: nwucla.BONE_PAIRS}
    if num_joints not in known:
      raise ValueError(f"no bone graph known for {num_joints} joints; pass bone_pairs")
    bone_pairs = known[num_joints]
  return [(int(a) - 1, int(b) - 1) for a, b in bone_pairs if a != b]


def _as_persons(joints: np.ndarray) -> np.ndarray:
  """(T, V, C) or (M, T, V, C) -> float (M, T, V, C)."""
  joints = np.asarray(joints, np.float64)
  return joints[None] if joints.ndim == 3 else joints


def present_persons(joints: np.ndarray) -> list[int]:
  """Persons with any non-zero coordinate (the pipelines pad absent persons with zeros)."""
  return [m for m in range(joints.shape[0]) if np.any(joints[m] != 0)]


def _limits(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-axis (low, high) over all points, padded by 5% of the largest extent."""
  lo, hi = points.min(axis=0), points.max(axis=0)
  pad = 0.05 * max(float((hi - lo).max()), 1e-6)
  return lo - pad, hi + pad


def _skeleton_animation(joints, *, edges, focal=None, scores=None, links=None, coord_dims=None,
                        fps=10.0, figsize=(4, 4), dpi=80, title=None, frame_labels=None):
  """(Animation, drawn): drawn[t] = the focal ids drawn at frame t, one array per present person."""
  joints = _as_persons(joints)
  coord_dims = min(3, joints.shape[-1]) if coord_dims is None else coord_dims
  three_d = coord_dims == 3
  axes = _VIEW_3D if three_d else (0, 1)
  persons = present_persons(joints) or [0]
  pts = joints[persons][..., list(axes)]  # (P, T, V, D) in plot order
  num_frames = pts.shape[1]
  fig = _figure(figsize, dpi)
  ax = fig.add_subplot(projection="3d" if three_d else None)
  lo, hi = _limits(pts.reshape(-1, len(axes)))
  ax.set_xlim(lo[0], hi[0])
  ax.set_ylim(lo[1], hi[1])
  if three_d:
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(hi - lo)
    ax.view_init(elev=15, azim=-65)
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    ax.set_zlabel("y")
  else:
    ax.set_aspect("equal")
    ax.invert_yaxis()  # 2D keypoints are image coordinates, y down
  ax.tick_params(labelsize=5)
  ax.locator_params(nbins=3)  # coordinates matter less than the pose: few, small ticks
  colors = ("tab:blue", "tab:orange", "tab:purple", "tab:brown")
  bones = [[ax.plot(*([[0, 0]] * len(axes)), color=colors[i % 4], lw=1.5)[0] for _ in edges]
           for i in range(len(persons))]
  joints_art = [ax.plot(*([[0]] * len(axes)), ls="", marker=".", ms=3, color=colors[i % 4])[0]
                for i in range(len(persons))]
  k = 0 if focal is None else np.asarray(focal).shape[-1]
  dots = [[ax.plot(*([[0]] * len(axes)), ls="", marker="o", ms=6, mec="black", mew=0.5)[0]
           for _ in range(k)] for _ in persons]
  num_links = 0 if links is None else links[0].shape[2]
  link_art = [[ax.plot(*([[0, 0]] * len(axes)), color="tab:green", lw=1.2)[0]
               for _ in range(num_links)] for _ in persons]
  label = fig.text(0.02, 0.97, "", fontsize=8, va="top")
  if focal is not None:
    import matplotlib
    cmap = matplotlib.colormaps["Reds"]
    sel = np.asarray(scores)[persons] if scores is not None else None
    s_lo, s_hi = (float(sel.min()), float(sel.max())) if sel is not None else (0.0, 1.0)
  drawn: dict[int, list[np.ndarray]] = {}

  def put(line, xyz):
    if three_d:
      line.set_data_3d(*xyz.T)
    else:
      line.set_data(*xyz.T)

  def draw(t):
    frame_ids = []
    for i, m in enumerate(persons):
      p = pts[i, t]
      for line, (a, b) in zip(bones[i], edges):
        put(line, p[[a, b]])
      put(joints_art[i], p)
      if focal is not None:
        ids = np.asarray(focal[m][t])
        frame_ids.append(ids)
        for dot, v in zip(dots[i], ids):
          put(dot, p[[v]])
          s = 1.0 if scores is None else (scores[m][t][v] - s_lo) / max(s_hi - s_lo, 1e-9)
          dot.set_color(cmap(0.3 + 0.7 * float(s)))  # darker = higher informativeness score
      if links is not None:
        ends, weights = links
        for line, e, w in zip(link_art[i], ends[m][t], weights[m][t]):
          put(line, np.asarray(e)[:, list(axes)])
          line.set_alpha(float(np.clip(w, 0.05, 1.0)))
    drawn[t] = frame_ids
    where = f"frame {t + 1}/{num_frames}" if frame_labels is None else frame_labels[t]
    label.set_text(f"{title}\n{where}" if title else where)  # also keeps GIF frames distinct
    return []

  return _animation(fig, draw, num_frames, fps), drawn


def animate_skeleton(joints: np.ndarray, path: str | None = None, *, edges=None, bone_pairs=None,
                     coord_dims: int | None = None, fps: float = 10.0, figsize=(4, 4), dpi: int = 80,
                     title: str | None = None):
  """An animated skeleton sequence, one frame per input frame.

  joints: (T, V, C) or (M, T, V, C) coordinates; all-zero persons (padding) are not drawn.
  edges: 0-based pairs (default `skeleton_edges(V, bone_pairs)`: NTU for 25 joints, NW-UCLA for
  20). coord_dims: 3 draws x, y, z in 3D (y up), 2 draws x, y (default min(3, C)).
  Returns `path` (.gif or .html) or, for path=None, the matplotlib Animation."""
  joints = _as_persons(joints)
  edges = skeleton_edges(joints.shape[2], bone_pairs) if edges is None else edges
  anim, _ = _skeleton_animation(joints, edges=edges, coord_dims=coord_dims, fps=fps,
                                figsize=figsize, dpi=dpi, title=title)
  return _save_animation(anim, path, fps, dpi)


# ------------------------------------------------------------------ FG-STFormer focal joints

def has_focal_joints(model) -> bool:
  """Whether `model` selects focal joints (FG-STFormer with model.focal and a stage 2)."""
  return bool(getattr(model, "focal", False)) and hasattr(model, "features")


def focal_selection(model, inputs: np.ndarray) -> dict:
  """FG-STFormer's focal joints for one sample `inputs` (M, T, V, C), as the model returns them.

  Returns focal_ids (M, T', K) in descending score order, scores (M, T', V) (Eqs. (2)-(3)),
  stride (input frames per stage-2 frame: frame t' was selected at input frame t' * stride) and,
  when the model has JP-CA, part_attention (M, T', K, P): the part-to-joint cross-attention of
  the first stage-2 layer, averaged over heads."""
  import jax.numpy as jnp
  x = jnp.asarray(np.asarray(inputs)[None], jnp.float32)
  f = _jit_once(_features)(model, x)  # eager dispatch compiles each operation on its own
  out = {"focal_ids": np.asarray(f["focal_ids"]), "scores": np.asarray(f["scores"], np.float32),
         "stride": int(np.prod(model.strides[:len(model.stage1)]))}
  if len(model.stage2) and model.stage2[0].part_to_joint is not None:
    _, a = capture_attention(model, x, "stage2.0.part_to_joint.attn")
    out["part_attention"] = a.mean(axis=-3)  # (M, T', K, P)
  return out


def animate_focal_joints(model, inputs: np.ndarray, path: str | None = None, *, positions=None,
                         edges=None, bone_pairs=None, coord_dims: int | None = None, fps: float = 4.0,
                         figsize=(4, 4), dpi: int = 80, title: str | None = None) -> dict:
  """FG-STFormer's selected focal joints over time on the skeleton (the paper's Fig. 5).

  inputs: the model's input for one sample (M, T, V, C); positions: its joint coordinates
  (M, T, V, >=3) when the model reads another stream (bone, motion), default `inputs`. One frame
  per stage-2 frame t': the skeleton at input frame t' * stride, its K focal joints as dots
  (darker = higher score) and, with JP-CA, a green line from each focal joint to the centroid of
  the body part it attends to most (opacity = that weight).
  Returns {"focal_ids", "scores", "stride", "frames" (input frame per animation frame), "path"
  and "drawn" (M_present, T', K): the ids the saved frames show; or, for path=None, "animation"}."""
  sel = focal_selection(model, inputs)
  positions = np.asarray(inputs if positions is None else positions, np.float64)
  ids, stride = sel["focal_ids"], sel["stride"]
  frames = np.minimum(np.arange(ids.shape[1]) * stride, positions.shape[1] - 1)
  joints = positions[:, frames]
  edges = skeleton_edges(joints.shape[2], bone_pairs) if edges is None else edges
  links = None
  if "part_attention" in sel:
    links = _part_links(joints, ids, sel["part_attention"], model.parts)
  labels = [f"stage-2 frame {t + 1}/{len(frames)} (input frame {f + 1})" for t, f in enumerate(frames)]
  anim, drawn = _skeleton_animation(joints, edges=edges, focal=ids, scores=sel["scores"], links=links,
                                    coord_dims=coord_dims, fps=fps, figsize=figsize, dpi=dpi, title=title, frame_labels=labels)
  result = dict(sel, frames=frames)
  if path is None:  # frames are drawn when the caller renders it
    result["animation"] = anim
    return result
  result["path"] = _save_animation(anim, path, fps, dpi)
  result["drawn"] = np.stack([np.stack(drawn[t]) for t in range(len(frames))], axis=1)
  return result


def _part_links(joints: np.ndarray, ids: np.ndarray, attention: np.ndarray, parts) -> tuple:
  """Per person and frame, a segment from each focal joint to the centroid of its most attended
  part: (ends (M, T', K, 2, C), weights (M, T', K))."""
  centroids = np.stack([joints[:, :, list(p)].mean(axis=2) for p in parts], axis=2)  # (M, T', P, C)
  best = attention.argmax(-1)  # (M, T', K)
  start = np.take_along_axis(joints, ids[..., None], axis=2)
  end = np.take_along_axis(centroids, best[..., None], axis=2)
  return np.stack([start, end], axis=3), np.take_along_axis(attention, best[..., None], -1)[..., 0]


# ---------------------------------------------------------------------------- attention

def _features(model, x):
  return model.features(x)


def _eval_forward(model, x):
  return model(x, train=False)


def _capture(call, model, x):
  from flax import nnx
  return nnx.capture(call, nnx.Intermediate)(model, x)[1]


def attention_layers(model) -> list[str]:
  """Dotted paths of the layers that can sow attention maps, in the model's graph order."""
  return [p for p, _ in _attention_modules(model)]


def _attention_modules(model):
  from flax import nnx
  from actionjax.layers.attention import SowsAttention
  return [(".".join(str(k) for k in path), m) for path, m in nnx.iter_modules(model)
          if isinstance(m, SowsAttention)]


def capture_attention(model, inputs, layer: int | str = 0, *, call=None) -> tuple[str, np.ndarray]:
  """(path, maps (..., H, Lq, Lk)) of one attention layer in a forward pass of `inputs`.

  `layer`: an index into `attention_layers(model)` or a dotted path; `call(model, inputs)` runs
  the forward (default: `model(inputs, train=False)`). The maps are the softmax probabilities
  (FG-STFormer's learned global map, a parameter, is not included); a layer run several times in
  one forward (MFST's shared WMS transformer) gives its first call's maps. Raises ValueError when
  the model has no such layer."""
  import jax
  import jax.numpy as jnp
  modules = _attention_modules(model)
  if not modules:
    raise ValueError(f"{type(model).__name__} has no attention layer")
  paths = [p for p, _ in modules]
  if isinstance(layer, str) and layer not in paths:
    raise ValueError(f"no attention layer {layer!r}; layers: {', '.join(paths)}")
  path, found = modules[paths.index(layer) if isinstance(layer, str) else layer]
  found.capture_attention = True  # only this layer sows (an attribute: part of the jit's key)
  try:
    sown = _jit_once(_capture, static_argnums=0)(call or _eval_forward, model, jnp.asarray(inputs))
  finally:
    del found.capture_attention
  return path, np.asarray(jax.tree.leaves(sown)[0], np.float32)


def plot_attention(weights: np.ndarray, path: str | None = None, *, title: str = "", figsize=None,
                   dpi: int = 100, query_label: str = "query", key_label: str = "key") -> np.ndarray:
  """One panel per head of `weights` (..., H, Lq, Lk), averaged over the leading axes (the frames,
  persons or joints the layer batches over; rows still sum to 1). Writes `path` (PNG) when given;
  returns the plotted (H, Lq, Lk) maps."""
  w = np.asarray(weights, np.float32)
  if w.ndim == 2:
    w = w[None]
  w = w.reshape(-1, *w.shape[-3:]).mean(axis=0)
  heads = w.shape[0]
  fig = _figure(figsize or (2.6 * heads + 0.6, 3.0), dpi)
  axes = fig.subplots(1, heads, squeeze=False)[0]
  for h, ax in enumerate(axes):
    im = ax.imshow(w[h], cmap="viridis", vmin=0, aspect="auto", interpolation="nearest")
    ax.set_title(f"head {h + 1}", fontsize=8)
    ax.set_xlabel(key_label, fontsize=7)
    ax.set_ylabel(query_label, fontsize=7)
    ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=ax, fraction=0.046).ax.tick_params(labelsize=6)
  if title:
    fig.suptitle(title, fontsize=8)
  fig.tight_layout()
  if path is not None:
    _save_figure(fig, path)
  return w


# --------------------------------------------------------------------------------- video

def clip_modalities(clip: np.ndarray, modalities: Sequence[str], depth_max: float | None = None):
  """(rgb uint8 (T, H, W, 3) or None, depth float (T, H, W) in [0, 1] or None) of one batch row
  (T, H, W, C) of the video pipeline (RGB channels first, then depth). Depth is divided by
  `depth_max`, default the clip's largest value."""
  clip = np.asarray(clip)
  rgb = np.clip(clip[..., :3], 0, 255).astype(np.uint8) if "rgb" in modalities else None
  depth = None
  if "depth" in modalities:
    d = clip[..., -1].astype(np.float32)
    scale = depth_max or float(d.max()) or 1.0
    depth = np.clip(d / scale, 0.0, 1.0)
  if rgb is None and depth is None:
    raise ValueError(f"modalities {tuple(modalities)} name neither rgb nor depth")
  return rgb, depth


def _panels(rgb, depth):
  """Per frame, the images to show side by side: RGB, then depth."""
  n = len(rgb) if rgb is not None else len(depth)
  return [[p for p in ((rgb[t] if rgb is not None else None), (depth[t] if depth is not None else None))
           if p is not None] for t in range(n)]


def _show(ax, image):
  ax.imshow(image, cmap=None if image.ndim == 3 else "magma", vmin=0, vmax=1 if image.ndim == 2 else None)
  ax.set_axis_off()


def plot_clip_grid(clip: np.ndarray, path: str | None = None, *, modalities=("rgb",), columns: int = 8,
                   depth_max: float | None = None, figsize=None, dpi: int = 80, title: str = ""):
  """The sampled frames of a clip (T, H, W, C) in a grid, `columns` frames a row, each frame's
  depth beside its RGB for RGB-D. Returns `path` (PNG) or, for path=None, the Figure."""
  panels = _panels(*clip_modalities(clip, modalities, depth_max))
  per = len(panels[0])
  cols = min(columns, len(panels))
  rows = math.ceil(len(panels) / cols)
  fig = _figure(figsize or (1.3 * cols * per, 1.3 * rows + 0.3), dpi)
  axes = fig.subplots(rows, cols * per, squeeze=False)
  for ax in axes.ravel():
    ax.set_axis_off()
  for t, images in enumerate(panels):
    for j, image in enumerate(images):
      ax = axes[t // cols, (t % cols) * per + j]
      _show(ax, image)
      ax.set_title(f"t={t}" + (" depth" if j else ""), fontsize=6)
  if title:
    fig.suptitle(title, fontsize=8)
  return _save_figure(fig, path)


def animate_clip(clip: np.ndarray, path: str | None = None, *, modalities=("rgb",), fps: float = 8.0,
                 depth_max: float | None = None, figsize=None, dpi: int = 80, title: str = ""):
  """A clip (T, H, W, C) played frame by frame, depth beside RGB for RGB-D. Returns `path` (.gif
  or .html) or, for path=None, the Animation."""
  panels = _panels(*clip_modalities(clip, modalities, depth_max))
  per = len(panels[0])
  fig = _figure(figsize or (2.4 * per, 2.7), dpi)
  axes = fig.subplots(1, per, squeeze=False)[0]
  for ax, image in zip(axes, panels[0]):
    _show(ax, image)
  label = fig.text(0.02, 0.97, "", fontsize=8, va="top")

  def draw(t):
    for ax, image in zip(axes, panels[t]):
      ax.images[0].set_data(image)
    where = f"frame {t + 1}/{len(panels)}"
    label.set_text(f"{title}  {where}" if title else where)
    return []

  return _save_animation(_animation(fig, draw, len(panels), fps), path, fps, dpi)


# ------------------------------------------------------------------------------- metrics

def per_class_accuracy(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
  """Accuracy of each class over its samples; NaN for classes absent from `labels`."""
  labels, preds = np.asarray(labels), np.asarray(preds)
  counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
  hits = np.bincount(labels[preds == labels], minlength=num_classes)
  return np.divide(hits, counts, out=np.full(num_classes, np.nan), where=counts > 0)


def _class_labels(n: int, class_names) -> list[str]:
  # A run may use the first n classes of a dataset (e.g. the demo's 8 of NTU-60).
  if class_names is not None and len(class_names) >= n:
    return [str(c) for c in list(class_names)[:n]]
  return [str(i) for i in range(n)]


def plot_per_class_accuracy(labels: np.ndarray, preds: np.ndarray, path: str | None = None, *,
                            num_classes: int | None = None, class_names=None, figsize=None,
                            dpi: int = 100) -> np.ndarray:
  """Horizontal bars of per-class accuracy, with class names and the mean-class accuracy as a
  line; absent classes are marked n/a. Writes `path` (PNG) when given; returns the values."""
  n = int(num_classes or max(np.max(labels), np.max(preds)) + 1)
  acc = per_class_accuracy(labels, preds, n)
  fig = _figure(figsize or (6.0, min(0.2 * n + 1.2, 40.0)), dpi)
  ax = fig.add_subplot()
  ax.barh(np.arange(n), np.nan_to_num(acc), color="tab:blue")
  for i in np.flatnonzero(np.isnan(acc)):
    ax.text(0.01, i, "n/a", va="center", fontsize=6)
  ax.axvline(np.nanmean(acc), color="tab:red", lw=1, ls="--", label=f"mean-class {np.nanmean(acc):.3f}")
  ax.set_yticks(range(n), _class_labels(n, class_names), fontsize=max(4, 9 - n // 20))
  ax.invert_yaxis()
  ax.set_xlim(0, 1)
  ax.set_xlabel("accuracy")
  ax.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  if path is not None:
    _save_figure(fig, path)
  return acc


def plot_confusion(cm: np.ndarray, path: str | None = None, class_names=None):
  """Row-normalised confusion matrix with counts (up to 30 classes) and class names on the axes.
  Returns `path` (PNG) or, for path=None, the Figure."""
  n = cm.shape[0]
  rows = cm.sum(axis=1, keepdims=True)
  norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
  size = min(4 + 0.25 * n, 40)
  fig = _figure((size, size), 100)
  ax = fig.add_subplot()
  im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
  labels = _class_labels(n, class_names)
  ax.set_xticks(range(n), labels, rotation=90, fontsize=max(4, 10 - n // 20))
  ax.set_yticks(range(n), labels, fontsize=max(4, 10 - n // 20))
  if n <= 30:
    for i in range(n):
      for j in range(n):
        if cm[i, j]:
          ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                  color="white" if norm[i, j] > 0.5 else "black")
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  acc = np.trace(cm) / max(cm.sum(), 1)
  ax.set_title(f"confusion (row-normalised), top-1 {acc:.3f}")
  fig.colorbar(im, ax=ax, fraction=0.046)
  fig.tight_layout()
  return _save_figure(fig, path)


# ------------------------------------------------------------------------ evaluation folder

def write_eval_figures(out_dir: str, *, labels: np.ndarray, logits: np.ndarray, class_names=None,
                       model=None, config=None, samples: dict | None = None, info: dict | None = None,
                       num_samples: int = 2) -> list[str]:
  """The figures `actionjax evaluate --viz` writes into `out_dir` (the eval folder); returns paths.

  Always per_class_accuracy.png (confusion.png is save_results'). With `model` and `samples`
  (model-ready `inputs` of a few test samples, plus `positions` (joint coordinates) for
  skeletons, `names` and `labels`): skeleton data -> skeleton_<i>.gif and, for FG-STFormer,
  focal_joints_<i>.gif; video -> clip_<i>.png and clip_<i>.gif (depth beside RGB for RGB-D); a
  model with attention -> attention.png (its first attention layer, sample 0). Figures a model
  or dataset has no data for are skipped."""
  info = info or {}
  written = []
  path = os.path.join(out_dir, "per_class_accuracy.png")
  plot_per_class_accuracy(labels, np.argmax(logits, axis=1), path, num_classes=logits.shape[1],
                          class_names=class_names)
  written.append(path)
  if model is None or not samples:
    return written
  n = min(num_samples, len(samples["inputs"]))
  names = [str(s) for s in samples.get("names", range(n))]
  label_names = _class_labels(logits.shape[1], class_names)

  def caption(i):
    return f"{names[i]} ({label_names[int(samples['labels'][i])]})" if "labels" in samples else names[i]

  video = bool(config is not None and config.data.get("modalities"))
  if video:
    from data_pipelines.video_records import modalities_of
    mods = modalities_of(config.data.modalities)
    depth_max = float(config.data.get("depth_max", 0)) or None
    for i in range(n):
      clip = samples["clips"][i]
      written.append(plot_clip_grid(clip, os.path.join(out_dir, f"clip_{i}.png"), modalities=mods,
                                    depth_max=depth_max, title=caption(i)))
      written.append(animate_clip(clip, os.path.join(out_dir, f"clip_{i}.gif"), modalities=mods,
                                  depth_max=depth_max, title=caption(i)))
  else:
    positions = samples.get("positions", samples["inputs"])
    pairs = info.get("bone_pairs")
    edges = skeleton_edges(positions.shape[3], pairs)
    coord_dims = int(info.get("coord_dims", min(3, positions.shape[-1])))
    for i in range(n):
      written.append(animate_skeleton(positions[i], os.path.join(out_dir, f"skeleton_{i}.gif"),
                                      edges=edges, coord_dims=coord_dims, title=caption(i)))
      if has_focal_joints(model):
        r = animate_focal_joints(model, samples["inputs"][i], os.path.join(out_dir, f"focal_joints_{i}.gif"),
                                 positions=positions[i], edges=edges, coord_dims=coord_dims, title=caption(i))
        written.append(r["path"])
  if attention_layers(model):
    layer, maps = capture_attention(model, samples["inputs"][:1])
    path = os.path.join(out_dir, "attention.png")
    plot_attention(maps, path, title=f"{type(model).__name__} {layer}: {caption(0)}")
    written.append(path)
  return written
