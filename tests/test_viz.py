"""actionjax.viz: files of the requested frame count and pixel size, values checked against
independent computations, the attention hook against a numpy softmax, and `evaluate --viz`."""
import json
import os

import jax
import numpy as np
import pytest
from flax import nnx
from PIL import Image

import tiny_data
from actionjax import viz
from actionjax.config import base_config
from actionjax.config import load as load_config
from actionjax.layers.position import sinusoidal_table
from model_helpers import random_model


def frames_and_size(path):
  with Image.open(path) as im:
    return im.n_frames, im.size


def skeleton(frames, joints, persons=2, seed=0):
  """A random-walk sequence; the last person is absent (zeros), as the pipelines pad."""
  rng = np.random.default_rng(seed)
  x = np.cumsum(0.05 * rng.standard_normal((persons, frames, joints, 3)), axis=1) + rng.normal(size=(1, 1, joints, 3))
  x[-1] = 0.0
  return x.astype(np.float32)


def small_fgstformer():
  """The demo FG-STFormer, narrower: stage 1 (strides 1, 2) + one stage-2 layer with JP-CA."""
  c = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "fgstformer.py:demo"), [])
  c.model.update(num_classes=4, channels=(8, 16, 16), num_focal=5, hidden=16, spatial_qk_features=(4,))
  c.data.num_frames = 8
  return c


@pytest.fixture(scope="module")
def fg_model():
  return random_model(small_fgstformer(), seed=1)


def test_bone_graphs_are_trees():
  for joints, expected in ((25, 24), (20, 19)):  # NTU RGB+D, NW-UCLA: one self-pair each
    edges = viz.skeleton_edges(joints)
    assert len(edges) == expected and all(0 <= a < joints and 0 <= b < joints and a != b for a, b in edges)
    reach, grew = {edges[0][0]}, True
    while grew:
      new = {b for a, b in edges if a in reach} | {a for a, b in edges if b in reach}
      grew, reach = bool(new - reach), reach | new
    assert reach == set(range(joints))
  assert viz.skeleton_edges(3, [[1, 2], [2, 2], [3, 2]]) == [(0, 1), (2, 1)]


@pytest.mark.parametrize("joints,frames", [(25, 12), (20, 5)])
def test_skeleton_gif_frames_and_size(tmp_path, joints, frames):
  path = viz.animate_skeleton(skeleton(frames, joints), str(tmp_path / "s.gif"), figsize=(3, 2.5), dpi=40)
  assert frames_and_size(path) == (frames, (120, 100))


def test_skeleton_html_and_2d(tmp_path):
  html = viz.animate_skeleton(skeleton(4, 20), str(tmp_path / "s.html"), figsize=(2, 2), dpi=30)
  text = open(html).read()
  assert "<script" in text and text.count("data:image/png;base64") == 4
  flat = skeleton(3, 18)[..., :2]  # 2D keypoints with Kinetics' own pairs
  path = viz.animate_skeleton(flat, str(tmp_path / "k.gif"), bone_pairs=[[v, 1] for v in range(1, 19)],
                              figsize=(2, 2), dpi=30)
  assert frames_and_size(path) == (3, (60, 60))
  with pytest.raises(ValueError, match="no bone graph known for 18 joints"):
    viz.animate_skeleton(flat, str(tmp_path / "x.gif"))


def test_focal_joints_are_the_models(tmp_path, fg_model):
  x = skeleton(8, 25)
  ref = fg_model.features(x[None])  # the model's own selection, independently of viz
  ids, scores = np.asarray(ref["focal_ids"]), np.asarray(ref["scores"])
  r = viz.animate_focal_joints(fg_model, x, str(tmp_path / "f.gif"), figsize=(3, 3), dpi=30)
  assert r["stride"] == 2 and list(r["frames"]) == [0, 2, 4, 6]
  np.testing.assert_array_equal(r["focal_ids"], ids)
  np.testing.assert_array_equal(r["drawn"], ids[:1])  # person 0 only: person 1 is absent
  np.testing.assert_allclose(r["scores"], scores, rtol=1e-4)  # viz runs it jitted: float32 noise
  assert r["part_attention"].shape == (2, 4, 5, 10)  # (M, T', K, P): the JP-CA green lines
  assert frames_and_size(r["path"]) == (4, (90, 90))


def test_attention_capture_matches_numpy_softmax(tmp_path, fg_model):
  x = skeleton(8, 25)[None]
  before = nnx.graphdef(fg_model)
  logits = np.asarray(fg_model(x)["logits"])
  path, maps = viz.capture_attention(fg_model, x, 0)
  assert path == "stage1.0.sformer.attn" and maps.shape == (2, 8, 3, 25, 25)
  np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
  # independently: Q, K of the first Basic-SFormer from the embedding and the node-type encoding
  p = nnx.state(fg_model, nnx.Param)
  get = lambda *keys: np.asarray(_leaf(p, keys), np.float64)
  h = x[0].astype(np.float64) @ get("embed", "kernel") + get("embed", "bias")
  h = h + sinusoidal_table(25, h.shape[-1])
  q = (h @ get("stage1", 0, "sformer", "attn", "q", "kernel") + get("stage1", 0, "sformer", "attn", "q", "bias"))
  k = (h @ get("stage1", 0, "sformer", "attn", "k", "kernel") + get("stage1", 0, "sformer", "attn", "k", "bias"))
  q, k = q.reshape(2, 8, 25, 3, 4), k.reshape(2, 8, 25, 3, 4)
  s = np.einsum("ntqhd,ntkhd->nthqk", q, k) / np.sqrt(4)
  e = np.exp(s - s.max(-1, keepdims=True))
  np.testing.assert_allclose(maps, e / e.sum(-1, keepdims=True), atol=2e-5)
  # the hook leaves the model as it was and changes no number
  assert nnx.graphdef(fg_model) == before
  np.testing.assert_array_equal(np.asarray(fg_model(x)["logits"]), logits)
  shown = viz.plot_attention(maps, str(tmp_path / "a.png"), figsize=(6, 2), dpi=50)
  assert shown.shape == (3, 25, 25) and frames_and_size(tmp_path / "a.png") == (1, (300, 100))
  names = viz.attention_layers(fg_model)
  assert names[1] == "stage1.0.tformer" and "stage2.0.part_to_joint.attn" in names
  _, temporal = viz.capture_attention(fg_model, x, "stage1.0.tformer")
  assert temporal.shape == (2, 25, 2, 8, 8)  # (N, V, H, T, T)
  with pytest.raises(ValueError, match="no attention layer 'nope'"):
    viz.capture_attention(fg_model, x, "nope")


def _leaf(state, keys):
  for key in keys:
    state = state[key]
  return state[...]


def test_looped_attention_capture():
  """FD-MAE's looped attention never forms the probabilities; the hook computes them aside."""
  from actionjax.models.fdmae_encoder import Attention
  gd, state = nnx.split(nnx.eval_shape(lambda: Attention(8, 2, looped=True, rngs=nnx.Rngs(0))))
  rng = np.random.default_rng(0)  # numpy weights: no jax.random kernels to compile
  layer = nnx.merge(gd, jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), state))
  x = np.random.default_rng(0).standard_normal((1, 5, 8)).astype(np.float32)
  plain = np.asarray(layer(x))
  _, maps = viz.capture_attention(layer, x, call=lambda m, x: m(x))
  qkv = (x[0] @ np.asarray(layer.qkv.kernel[...]) + np.asarray(layer.qkv.bias[...])).reshape(5, 3, 2, 4)
  s = np.einsum("qhd,khd->hqk", qkv[:, 0], qkv[:, 1]) / 2.0
  e = np.exp(s - s.max(-1, keepdims=True))
  np.testing.assert_allclose(maps[0], e / e.sum(-1, keepdims=True), atol=1e-5)
  np.testing.assert_array_equal(np.asarray(layer(x)), plain)


def rgbd_clip(frames=6, size=16):
  y, x = np.mgrid[0:size, 0:size]
  clip = np.zeros((frames, size, size, 4), np.uint16)
  for t in range(frames):
    clip[t, ..., 0], clip[t, ..., 1], clip[t, ..., 2] = x * 15, y * 15, 40 * t
    clip[t, ..., 3] = 500 + 100 * x + 50 * t
  return clip


def test_clip_grid_and_animation(tmp_path):
  clip = rgbd_clip()
  grid = viz.plot_clip_grid(clip, str(tmp_path / "g.png"), modalities=("rgb", "depth"), columns=3,
                            figsize=(6, 2), dpi=50)
  assert frames_and_size(grid) == (1, (300, 100))
  gif = viz.animate_clip(clip, str(tmp_path / "c.gif"), modalities=("rgb", "depth"), figsize=(4, 2), dpi=40)
  assert frames_and_size(gif) == (6, (160, 80))
  rgb, depth = viz.clip_modalities(clip, ("rgb", "depth"), depth_max=2000)
  assert rgb.dtype == np.uint8 and rgb.shape == (6, 16, 16, 3) and depth.max() <= 1.0
  assert depth[0, 0, 1] == pytest.approx(600 / 2000)
  only_rgb = viz.animate_clip(clip[..., :3].astype(np.uint8), str(tmp_path / "r.gif"), figsize=(2, 2), dpi=40)
  assert frames_and_size(only_rgb) == (6, (80, 80))


def test_per_class_accuracy_and_confusion(tmp_path):
  rng = np.random.default_rng(3)
  labels = rng.choice([0, 1, 2, 4], size=50)  # class 3 absent
  preds = np.where(rng.random(50) < 0.6, labels, rng.integers(0, 5, 50))
  acc = viz.plot_per_class_accuracy(labels, preds, str(tmp_path / "acc.png"), num_classes=5,
                                    class_names=list("abcde"), figsize=(5, 3), dpi=40)
  for c in range(5):
    rows = labels == c
    assert (np.isnan(acc[c]) and not rows.any()) or acc[c] == pytest.approx(np.mean(preds[rows] == c))
  assert frames_and_size(tmp_path / "acc.png") == (1, (200, 120))
  from actionjax.scoring import confusion_matrix
  path = viz.plot_confusion(confusion_matrix(labels, preds, 5), str(tmp_path / "cm.png"), list("abcde"))
  assert frames_and_size(path) == (1, (525, 525))  # (4 + 0.25 n) inches at 100 dpi


def test_eval_figures_fgstformer(tmp_path, fg_model):
  """Skeleton + FG-STFormer: skeleton and focal-joint animations, an attention map (NTU bones)."""
  x = skeleton(8, 25)[None]
  logits = np.eye(4, dtype=np.float32)[[0, 1, 3, 3]]
  written = viz.write_eval_figures(str(tmp_path), labels=np.array([0, 1, 2, 3]), logits=logits,
                                   class_names=["w", "x", "y", "z"], model=fg_model,
                                   samples={"inputs": x, "names": ["s0"], "labels": [2]})
  assert [os.path.basename(p) for p in written] == ["per_class_accuracy.png", "skeleton_0.gif",
                                                    "focal_joints_0.gif", "attention.png"]
  assert frames_and_size(tmp_path / "skeleton_0.gif") == (8, (320, 320))
  assert frames_and_size(tmp_path / "focal_joints_0.gif") == (4, (320, 320))  # one per stage-2 frame


def test_eval_figures_video(tmp_path):
  """RGB-D video with a model without attention: the clip grid and animation, nothing more."""
  v = base_config()
  v.model.update(name="tiny_video", num_classes=2, width=4)
  v.data.update(modalities=("rgb", "depth"), depth_max=2000.0)
  model = random_model(v)
  written = viz.write_eval_figures(str(tmp_path), labels=np.array([0, 1]), logits=np.eye(2, dtype=np.float32),
                                   model=model, config=v, samples={"inputs": np.zeros((1, 6, 16, 16, 4), np.float32),
                                                                   "clips": rgbd_clip()[None]})
  assert sorted(map(os.path.basename, written)) == ["clip_0.gif", "clip_0.png", "per_class_accuracy.png"]
  assert frames_and_size(tmp_path / "clip_0.gif")[0] == 6


def test_evaluate_viz_cli(tmp_path, capsys):
  """`actionjax evaluate --viz` on a one-step run of a model without attention or focal joints."""
  from actionjax import cli
  from actionjax.training import trainer
  data = tiny_data.write(str(tmp_path / "data"), per_class=(2, 1))
  trainer.train(tiny_data.config(data, num_steps=1, checkpoint_every_steps=1, log_every_steps=1),
                str(tmp_path / "w"), quiet=True)
  assert cli.main(["evaluate", "--workdir", str(tmp_path / "w"), "--viz"]) == 0
  assert "figures: per_class_accuracy.png, skeleton_0.gif, skeleton_1.gif" in capsys.readouterr().out
  out = tmp_path / "w" / "eval" / "test"
  assert frames_and_size(out / "per_class_accuracy.png")[0] == 1 and (out / "confusion.png").exists()
  assert frames_and_size(out / "skeleton_1.gif") == (16, (320, 320))  # data.num_frames
  assert not list(out.glob("focal_joints_*")) and not (out / "attention.png").exists()
  assert json.load(open(out / "metrics.json"))["num_samples"] == 4
