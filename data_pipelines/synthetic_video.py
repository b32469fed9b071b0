"""Genuine-format synthetic video: NTU RGB+D (`_rgb.avi`, masked-depth PNG folders, `.skeleton`),
ChaLearn IsoGD (`M_*.avi` / `K_*.avi` + list files) and generic lists (rawframes + videos).

A bright ellipse (the "person") moves along a class-dependent trajectory: direction, travel,
wobble frequency and amplitude, and a colour group are fixed per class; every sample jitters its
start, size, speed, colour and background texture, so a model must learn the motion. For NTU the
ellipse is the box of an animated skeleton (`synthetic.perform`) carried along the trajectory,
and the `.skeleton` file holds that skeleton: its colorX/Y and depthX/Y lie on the drawn person.
The files carry the real releases' edge cases (truncated / corrupt / empty videos, depth frame
counts that differ from RGB, 0- and 1-based PNG numbering, 8-bit depth, missing folders).
"""
from __future__ import annotations

import os
import struct
from typing import Sequence

import av
import numpy as np
from PIL import Image

from data_pipelines import splits, synthetic

_PALETTE = np.array([(230, 60, 50), (60, 200, 70), (70, 110, 240), (235, 210, 60), (200, 70, 220),
                     (60, 210, 210)], np.float64)
_F_COLOR, _F_DEPTH = 1060.0, 365.0  # pinhole focal lengths of synthetic._ntu_text's projection
_NTU_RGB, _NTU_DEPTH = (1080, 1920), (424, 512)
EDGE_CASES = ("truncated", "decoder_error", "zero_frames", "depth_count", "zero_based",
              "depth_8bit", "missing_depth", "no_skeleton")


def class_track(label: int, seed: int = 0) -> dict:
  """The class's motion: direction (rad), travel (fraction of the frame), wobble cycles per clip
  and amplitude, colour index. Labels sharing a colour differ in motion."""
  rng = np.random.default_rng([seed, 4241, label])
  return dict(angle=rng.uniform(0, 2 * np.pi), travel=rng.uniform(0.15, 0.4),
              cycles=rng.uniform(0.5, 3.0), wobble=rng.uniform(0.0, 0.08),
              phase=rng.uniform(0, 2 * np.pi), colour=label % len(_PALETTE))


def track(label: int, num_frames: int, rng: np.random.Generator, *, seed: int = 0,
          half: tuple[float, float] = (0.2, 0.1)) -> np.ndarray:
  """(T, 2) centre (u, v) in [0, 1] image coordinates; the path plus `half` (v, u) extents of
  the person stays inside the frame when it can."""
  p = class_track(label, seed)
  t = np.arange(num_frames) / max(num_frames - 1, 1)
  speed = rng.uniform(0.8, 1.2)
  along = np.array([np.cos(p["angle"]), np.sin(p["angle"])])
  across = np.array([-along[1], along[0]])
  wobble = p["wobble"] * np.sin(2 * np.pi * p["cycles"] * t * speed + p["phase"])
  path = (p["travel"] * speed * t)[:, None] * along + wobble[:, None] * across
  lo_ok = np.array([half[1], half[0]]) - path.min(0)
  hi_ok = 1 - np.array([half[1], half[0]]) - path.max(0)
  start = np.where(lo_ok <= hi_ok, rng.uniform(np.minimum(lo_ok, hi_ok), np.maximum(lo_ok, hi_ok)),
                   (lo_ok + hi_ok) / 2)
  return path + start


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
  """A dim static texture (blocks of noise over a gradient), different per sample."""
  h, w = size
  level = rng.uniform(5, 40)
  cells = rng.uniform(0, level, (max(1, h // 16 + 1), max(1, w // 16 + 1), 3))
  tex = np.repeat(np.repeat(cells, 16, 0), 16, 1)[:h, :w]
  grad = np.linspace(0, rng.uniform(0, 40), w)[None, :, None]
  return np.clip(tex + grad + rng.uniform(10, 50), 0, 255).astype(np.uint8)


def _ellipse(img: np.ndarray, box: Sequence[float], value) -> tuple[int, int, int, int] | None:
  """Fills the ellipse inscribed in box (x0, y0, x1, y1) in place; returns its pixel bbox."""
  h, w = img.shape[:2]
  x0, y0, x1, y1 = box
  cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1.0), max((y1 - y0) / 2, 1.0)
  c0, c1 = max(0, int(np.floor(cx - rx))), min(w, int(np.ceil(cx + rx)) + 1)
  r0, r1 = max(0, int(np.floor(cy - ry))), min(h, int(np.ceil(cy + ry)) + 1)
  if c1 <= c0 or r1 <= r0:
    return None
  yy, xx = np.mgrid[r0:r1, c0:c1]
  inside = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
  if not inside.any():
    return None
  img[r0:r1, c0:c1][inside] = value
  rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
  return c0 + int(cols[0]), r0 + int(rows[0]), c0 + int(cols[-1]) + 1, r0 + int(rows[-1]) + 1


def _union(a, b):
  if a is None or b is None:
    return a or b
  return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


# --- writing videos ----------------------------------------------------------------------------

def _encoder(codec: str) -> str:
  if codec in ("h264", "libx264") and "libx264" in av.codecs_available:
    return "libx264"
  return "mpeg4"


def write_video(path: str, frames: Sequence[np.ndarray], *, codec: str = "h264", fps: int = 30) -> str:
  """Encodes uint8 (H, W, 3) or (H, W) frames (even sizes) to `path`; returns the encoder used.
  libx264 "superfast" writes B-frames, so an AVI's pts come out of order as in NTU's files."""
  encoder = _encoder(codec)
  fmt = "avi" if path.lower().endswith(".avi") else None
  with av.open(path, "w", format=fmt) as container:
    stream = container.add_stream(encoder, rate=fps)
    h, w = frames[0].shape[:2] if len(frames) else (240, 320)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    if encoder == "libx264":
      stream.options = {"preset": "superfast", "crf": "20"}
    else:
      stream.bit_rate = int(w * h * fps * 0.5)
    container.start_encoding()
    for f in frames:
      kind = "rgb24" if f.ndim == 3 else "gray"
      for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=kind)):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  return encoder


def truncate(path: str, fraction: float = 0.7) -> None:
  """Cuts the file: FFmpeg then stops early without an error (the header still announces all)."""
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:int(len(data) * fraction)])


def corrupt(path: str, chunk: int = 5) -> None:
  """Zeroes the payload of the `chunk`-th video chunk of an AVI: the decoder fails there (a few
  damaged bytes are often concealed silently)."""
  with open(path, "rb") as f:
    data = bytearray(f.read())
  pos = data.find(b"movi")
  for _ in range(chunk + 1):
    pos = data.find(b"00dc", pos + 1)
  if pos < 0:
    raise ValueError(f"{path} has fewer than {chunk + 1} video chunks")
  size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
  data[pos + 8:pos + 8 + size] = bytes(size)
  with open(path, "wb") as f:
    f.write(bytes(data))


def _write_pngs(folder: str, frames: Sequence[np.ndarray], pattern: str, start: int) -> None:
  os.makedirs(folder, exist_ok=True)
  for i, f in enumerate(frames):
    Image.fromarray(f).save(os.path.join(folder, pattern % (i + start)), compress_level=1)


def _even(size: tuple[int, int]) -> tuple[int, int]:
  if size[0] % 2 or size[1] % 2:
    raise ValueError(f"video size {size} must be even (yuv420p)")
  return size


# --- NTU ---------------------------------------------------------------------------------------

def _ntu_person(label: int, num_frames: int, rng: np.random.Generator, camera: int, seed: int):
  """(T, 25, 3) camera-space joints of one actor whose image centre follows the class track."""
  actor = synthetic.perform(label, num_frames, rng, two_actors=False,
                            yaw=synthetic._CAMERA_YAW[camera], seed=seed)[0]
  z = rng.uniform(3.3, 4.2)
  pose = actor - actor.mean(1, keepdims=True)
  half = (0.95 * _F_COLOR / z / _NTU_RGB[0], 0.45 * _F_COLOR / z / _NTU_RGB[1])
  uv = track(label, num_frames, rng, seed=seed, half=half)
  x = (uv[:, 0] * _NTU_RGB[1] - _NTU_RGB[1] / 2) * z / _F_COLOR
  y = -(uv[:, 1] * _NTU_RGB[0] - _NTU_RGB[0] / 2) * z / _F_COLOR
  return pose + np.stack([x, y, np.full(num_frames, z)], -1)[:, None]


def _project(joints: np.ndarray, focal: float, ref: tuple[int, int], size: tuple[int, int]):
  """Pixel (x, y) of camera-space joints for an (h, w) frame scaled from the `ref` frame."""
  z = np.maximum(joints[..., 2], 0.5)
  px = (ref[1] / 2 + focal * joints[..., 0] / z) * size[1] / ref[1]
  py = (ref[0] / 2 - focal * joints[..., 1] / z) * size[0] / ref[0]
  return np.stack([px, py], -1)


def _person_box(pixels: np.ndarray, pad: float) -> tuple[float, float, float, float]:
  lo, hi = pixels.min(0), pixels.max(0)
  ext = (hi - lo) * pad
  return lo[0] - ext[0], lo[1] - ext[1], hi[0] + ext[0], hi[1] + ext[1]


def write_ntu_video(out_dir: str, *, num_classes: int, samples_per_class: int, seed: int = 0,
                    num_frames: tuple[int, int] = (40, 60), size: tuple[int, int] = (1080, 1920),
                    codec: str = "h264", dataset: str = "ntu60", with_skeleton: bool = True,
                    edge_cases: bool = True) -> dict:
  """Writes `nturgb+d_rgb/<name>_rgb.avi`, `nturgb+d_depth_masked/<name>/MDepth-%08d.png`
  (uint16 mm, 512x424 scaled like the RGB) and `nturgb+d_skeletons/<name>.skeleton`.

  Returns {"names": [(name, label)], "edge": {case: name}, "frames": {name: T},
  "depth_frames": {name: n}, "rgb_box" / "depth_box": {name: drawn person's bbox over all frames},
  "size", "depth_size", "encoder"}."""
  size = _even(tuple(size))
  depth_size = tuple(round(d * s / r) for d, s, r in zip(_NTU_DEPTH, size, _NTU_RGB))
  dirs = {k: os.path.join(out_dir, v) for k, v in (
      ("rgb", "nturgb+d_rgb"), ("depth", "nturgb+d_depth_masked"), ("skel", "nturgb+d_skeletons"))}
  for d in dirs.values():
    os.makedirs(d, exist_ok=True)
  names = synthetic.ntu_names(num_classes, samples_per_class, dataset)
  edge = dict(zip(EDGE_CASES, (n for n, _ in names))) if edge_cases else {}
  case = {n: c for c, n in edge.items()}
  out = {"names": names, "edge": edge, "frames": {}, "depth_frames": {}, "rgb_box": {},
         "depth_box": {}, "size": size, "depth_size": depth_size, "encoder": _encoder(codec)}
  for i, (name, label) in enumerate(names):
    rng = np.random.default_rng([seed, 31, i])
    t = int(rng.integers(num_frames[0], num_frames[1] + 1))
    joints = _ntu_person(label, t, rng, splits.parse_ntu_name(name)["camera"], seed)
    colour = np.clip(_PALETTE[class_track(label, seed)["colour"]] * rng.uniform(0.85, 1.1), 0, 255)
    background = _background(size, rng)
    flicker = rng.normal(0, 3, t)
    rgb_px = _project(joints, _F_COLOR, _NTU_RGB, size)
    depth_px = _project(joints, _F_DEPTH, _NTU_DEPTH, depth_size)
    frames, depth, rgb_box, depth_box = [], [], None, None
    for k in range(t):
      img = np.clip(background.astype(np.int16) + int(flicker[k]), 0, 255).astype(np.uint8)
      rgb_box = _union(rgb_box, _ellipse(img, _person_box(rgb_px[k], 0.08), colour))
      frames.append(img)
      d = np.zeros(depth_size, np.uint16)
      depth_box = _union(depth_box, _ellipse(d, _person_box(depth_px[k], 0.08),
                                             int(joints[k, :, 2].mean() * 1000)))
      depth.append(d)
    rgb_path = os.path.join(dirs["rgb"], f"{name}_rgb.avi")
    if case.get(name) == "zero_frames":
      write_video(rgb_path, [], codec=codec)
      frames = []
    else:
      write_video(rgb_path, frames, codec=codec)
    if case.get(name) == "truncated":
      truncate(rgb_path)
    elif case.get(name) == "decoder_error":
      corrupt(rgb_path, chunk=min(5, t - 2))
    if case.get(name) == "depth_count":
      depth = depth[:-3]
    if case.get(name) == "depth_8bit":
      depth = [(d // 20).astype(np.uint8) for d in depth]
    if case.get(name) != "missing_depth":
      _write_pngs(os.path.join(dirs["depth"], name), depth, "MDepth-%08d.png",
                  0 if case.get(name) == "zero_based" else 1)
    if with_skeleton and case.get(name) not in ("no_skeleton", "missing_depth"):
      text = synthetic._ntu_text([[(synthetic._BODY_ID_BASE + i, joints[k])] for k in range(t)], rng)
      with open(os.path.join(dirs["skel"], name + ".skeleton"), "w", newline="") as f:
        f.write(text)
    out["frames"][name] = len(frames)
    out["depth_frames"][name] = 0 if case.get(name) == "missing_depth" else len(depth)
    out["rgb_box"][name], out["depth_box"][name] = rgb_box, depth_box
  return out


# --- IsoGD -------------------------------------------------------------------------------------

def gesture_clip(label: int, num_frames: int, size: tuple[int, int], rng: np.random.Generator,
                 seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """RGB frames and 8-bit depth frames (a near bright ellipse on a dark background) of one
  gesture of class `label`."""
  h, w = size
  rh, rw = rng.uniform(0.12, 0.2), rng.uniform(0.08, 0.14)  # half extents, fractions of h / w
  uv = track(label, num_frames, rng, seed=seed, half=(rh, rw))
  colour = np.clip(_PALETTE[class_track(label, seed)["colour"]] * rng.uniform(0.85, 1.1), 0, 255)
  background = _background(size, rng)
  near = int(rng.integers(170, 240))
  rgb, depth = [], []
  for u, v in uv:
    box = ((u - rw) * w, (v - rh) * h, (u + rw) * w, (v + rh) * h)
    img = background.copy()
    _ellipse(img, box, colour)
    d = np.full(size, int(rng.integers(20, 40)), np.uint8)  # a far wall
    _ellipse(d, box, near)
    rgb.append(img)
    depth.append(d)
  return rgb, depth


def write_isogd(out_dir: str, *, num_classes: int, samples_per_class: int, seed: int = 0,
                num_frames: tuple[int, int] = (20, 40), size: tuple[int, int] = (240, 320),
                codec: str = "mpeg4", edge_cases: bool = True, release_layout: bool = False,
                unlabelled_valid: bool = False) -> dict:
  """Writes `{train,valid,test}/NNN/{M,K}_NNNNN.avi` and the 3-column list files (1-based labels).
  Sample k of a class goes to train (k % 5 < 3), valid (3) or test (4). `release_layout` puts
  train / valid under IsoGD_phase_1/ and test under IsoGD_phase_2/, lists inside them.
  Edge case: a train list line naming a missing clip. Returns {"entries": {split: [(name,
  label)]}, "missing_line": (list path, line number) or None, "lists": {split: path}}."""
  size = _even(tuple(size))
  entries = {s: [] for s in ("train", "valid", "test")}
  lines = {s: [] for s in entries}
  for label in range(num_classes):
    for k in range(samples_per_class):
      split = "train" if k % 5 < 3 else ("valid", "test")[k % 5 - 3]
      i = len(entries[split])
      rel = f"{split}/{i // 200 + 1:03d}/%s_{i + 1:05d}.avi"
      base = os.path.join(out_dir, ("IsoGD_phase_2" if split == "test" else "IsoGD_phase_1")
                          if release_layout else "")
      rng = np.random.default_rng([seed, 53, label, k])
      rgb, depth = gesture_clip(label, int(rng.integers(num_frames[0], num_frames[1] + 1)), size,
                                rng, seed)
      os.makedirs(os.path.dirname(os.path.join(base, rel)), exist_ok=True)
      write_video(os.path.join(base, rel % "M"), rgb, codec=codec)
      write_video(os.path.join(base, rel % "K"), depth, codec=codec)
      entries[split].append((os.path.splitext(rel % "M")[0], label))
      labelled = not (unlabelled_valid and split == "valid")
      lines[split].append(f"{rel % 'M'} {rel % 'K'}" + (f" {label + 1}" if labelled else ""))
  missing = None
  if edge_cases and lines["train"]:
    at = len(lines["train"]) // 2
    lines["train"].insert(at, "train/999/M_99999.avi train/999/K_99999.avi 1")
  lists = {}
  for split, content in lines.items():
    folder = os.path.join(out_dir, ("IsoGD_phase_2" if split == "test" else "IsoGD_phase_1")
                          if release_layout else "")
    os.makedirs(folder, exist_ok=True)
    lists[split] = os.path.join(folder, f"{split}_list.txt")
    with open(lists[split], "w", newline="") as f:
      f.write("".join(line + "\r\n" for line in content))  # the release's lists are CRLF
  if edge_cases and lines["train"]:
    missing = (lists["train"], at + 1)
  return {"entries": entries, "missing_line": missing, "lists": lists}


# --- generic lists -----------------------------------------------------------------------------

def write_video_list(out_dir: str, *, num_classes: int, samples_per_class: int, seed: int = 0,
                     num_frames: tuple[int, int] = (16, 30), size: tuple[int, int] = (120, 160),
                     label_base: int = 0, edge_cases: bool = True) -> dict:
  """Writes an mmaction-style tree: `rawframes/<cls>/<vid>/img_%05d.jpg` with 16-bit depth PNG
  folders at the same paths under `depth/`, and `videos/<cls>/<vid>.mp4`; lists
  `rawframes_{train,val}.txt` (`<folder> <num_frames> <label>`) and `videos_{train,val}.txt`
  (`<video> <label>`), every 4th sample in val. Edge cases: a wrong stated frame count, a line
  naming a missing file in each list, tabs and repeated spaces. Returns {"lists", "entries":
  {list key: [(name, label)]}, "wrong_count": name, "missing_lines": {list key: line}}."""
  size = _even(tuple(size))
  roots = {k: os.path.join(out_dir, k) for k in ("rawframes", "depth", "videos")}
  lines = {k: [] for k in ("rawframes_train", "rawframes_val", "videos_train", "videos_val")}
  entries = {k: [] for k in lines}
  wrong = None
  for label in range(num_classes):
    for k in range(samples_per_class):
      split = "val" if k % 4 == 3 else "train"
      rel = f"c{label:02d}/v{label:02d}_{k:03d}"
      rng = np.random.default_rng([seed, 71, label, k])
      t = int(rng.integers(num_frames[0], num_frames[1] + 1))
      rgb, depth8 = gesture_clip(label, t, size, rng, seed)
      _write_jpegs(os.path.join(roots["rawframes"], rel), rgb)
      _write_pngs(os.path.join(roots["depth"], rel), [d.astype(np.uint16) * 12 for d in depth8],
                  "img_%05d.png", 1)
      os.makedirs(os.path.dirname(os.path.join(roots["videos"], rel)), exist_ok=True)
      write_video(os.path.join(roots["videos"], rel + ".mp4"), rgb, codec="h264")
      stated = t
      if edge_cases and wrong is None and split == "train":
        wrong, stated = rel, t + 5
      sep = "\t" if edge_cases and k == 1 else ("  " if edge_cases and k == 2 else " ")
      lines[f"rawframes_{split}"].append(f"{rel}{sep}{stated} {label + label_base}")
      lines[f"videos_{split}"].append(f"{rel}.mp4{sep}{label + label_base}")
      entries[f"rawframes_{split}"].append((rel, label))
      entries[f"videos_{split}"].append((rel, label))
  missing = {}
  if edge_cases:
    for key, content in lines.items():
      if content:
        missing[key] = len(content) + 1
        content.append(f"c99/missing 10 {label_base}" if key.startswith("rawframes")
                       else f"c99/missing.mp4 {label_base}")
  paths = {}
  for key, content in lines.items():
    paths[key] = os.path.join(out_dir, f"{key}.txt")
    with open(paths[key], "w") as f:
      f.write("\n".join(content) + "\n")
  return {"lists": paths, "roots": roots, "entries": entries, "wrong_count": wrong,
          "missing_lines": missing}


def _write_jpegs(folder: str, frames: Sequence[np.ndarray]) -> None:
  os.makedirs(folder, exist_ok=True)
  for i, f in enumerate(frames):
    Image.fromarray(f).save(os.path.join(folder, f"img_{i + 1:05d}.jpg"), quality=90)
