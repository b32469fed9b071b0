"""NTU RGB+D RGB videos and masked depth (datasets.md, "NTU RGB+D video and depth").

`nturgb+d_rgb/<name>_rgb.avi` (1920x1080 H.264) and `nturgb+d_depth_masked/<name>/MDepth-*.png`
(512x424 uint16 mm, 0 = background; the index base varies: glob and sort naturally). The
person-centred crop comes from the skeleton's colorX/colorY (RGB) and depthX/depthY (depth)
columns, else from the depth mask, else a centre square; the method used is recorded.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
import re

import numpy as np

from data_pipelines import splits
from data_pipelines.errors import DataError, FormatError
from data_pipelines.formats import ntu, video
from data_pipelines.preprocess import denoise

RGB_DIR = "nturgb+d_rgb"
DEPTH_DIR = "nturgb+d_depth_masked"
SKELETON_DIR = "nturgb+d_skeletons"
DEPTH_GLOB = "MDepth-*.png"
RGB_SIZE = (1080, 1920)  # (h, w) the skeleton's colorX / colorY refer to
DEPTH_SIZE = (424, 512)  # ... and depthX / depthY
CROP_MARGIN = 0.15  # of the person box's long side, added on each side
MIN_BOX = 0.2  # smallest crop side, as a fraction of the frame's short side
# Approximate Kinect v2 depth -> colour pixel mapping (focal-length ratio about the image
# centres). It ignores the ~5 cm baseline between the two cameras (tens of pixels at 2-4 m),
# which the crop margin absorbs.
DEPTH_TO_COLOR = 2.96

_RGB_NAME = re.compile(r"^(.*)_rgb\.avi$", re.IGNORECASE)


@dataclasses.dataclass
class Found:
  rgb: dict[str, str]  # name -> video path
  depth: dict[str, str]  # name -> depth folder
  depth_frames: dict[str, int]  # name -> number of MDepth-*.png
  rejected: list[tuple[str, str]]


def find(raw_dir: str) -> Found:
  """Every RGB video and masked-depth folder under `raw_dir`'s release folders."""
  rgb_root, depth_root = os.path.join(raw_dir, RGB_DIR), os.path.join(raw_dir, DEPTH_DIR)
  if not os.path.isdir(rgb_root) and not os.path.isdir(depth_root):
    raise DataError(f"{raw_dir} holds neither {RGB_DIR}/ nor {DEPTH_DIR}/")
  out = Found({}, {}, {}, [])
  for root, dirs, files in os.walk(rgb_root):
    dirs.sort()
    for f in sorted(files):
      if not f.lower().endswith(".avi"):
        continue
      path = os.path.join(root, f)
      m = _RGB_NAME.match(f)
      if not m or splits.parse_ntu_name(m.group(1)) is None:
        out.rejected.append((path, "file name does not match SsssCcccPpppRrrrAaaa_rgb.avi"))
      elif m.group(1) in out.rgb:
        out.rejected.append((path, f"duplicate of another {m.group(1)} video"))
      else:
        out.rgb[m.group(1)] = path
  for root, dirs, files in os.walk(depth_root):
    dirs.sort()
    name = os.path.basename(root)
    if splits.parse_ntu_name(name) is None:
      continue  # the release folder itself, or grouping folders
    if name in out.depth:
      out.rejected.append((root, f"duplicate of another {name} depth folder"))
      continue
    out.depth[name] = root
    out.depth_frames[name] = sum(1 for f in files if f.startswith("MDepth-") and f.endswith(".png"))
  return out


def depth_files(folder: str) -> list[str]:
  """The folder's MDepth-*.png in natural order (any index base)."""
  names = [f for f in os.listdir(folder) if fnmatch.fnmatch(f, DEPTH_GLOB)]
  return [os.path.join(folder, f) for f in video.natural_sorted(names)]


# --- skeleton pixels ---------------------------------------------------------------------------

def skeleton_pixels(path: str) -> tuple[np.ndarray, np.ndarray]:
  """(colour, depth): float64 (N, 2) pixel positions of every joint of the bodies the skeleton
  denoiser keeps (noise bodies would widen the box), over all frames."""
  with open(path, "rb") as f:
    text = f.read().decode("latin-1")
  skeleton = ntu.parse_ntu(text)  # validates the layout; FormatError otherwise
  kept = {b.body_id for b in denoise.denoise_bodies(skeleton.bodies)[:denoise.MAX_ACTORS]}
  lines = text.split("\n")
  pos, rows = 1, []
  for _ in range(skeleton.declared_frames):
    num_bodies = int(lines[pos])
    pos += 1
    seen = set()
    for _ in range(num_bodies):
      body_id = int(lines[pos].split()[0])
      if body_id in kept and body_id not in seen:
        rows += lines[pos + 2:pos + 2 + ntu.NUM_JOINTS]
      seen.add(body_id)
      pos += 2 + ntu.NUM_JOINTS
  fields = np.array(" ".join(rows).split(), np.float64).reshape(-1, ntu.JOINT_FIELDS)
  return fields[:, 5:7], fields[:, 3:5]


def points_box(points: np.ndarray, size: tuple[int, int]) -> video.Box | None:
  """Bounding box of the finite points that fall in an (h, w) frame; None if there are none."""
  h, w = size
  ok = np.isfinite(points).all(1) & (points[:, 0] >= 0) & (points[:, 0] < w)
  ok &= (points[:, 1] >= 0) & (points[:, 1] < h)
  if not ok.any():
    return None
  lo, hi = points[ok].min(0), points[ok].max(0)
  return int(np.floor(lo[0])), int(np.floor(lo[1])), int(np.ceil(hi[0])) + 1, int(np.ceil(hi[1])) + 1


def square_box(box: video.Box, size: tuple[int, int], margin: float = CROP_MARGIN) -> video.Box:
  """`box` grown by `margin` into a square about its centre, shifted into the (h, w) frame and
  clipped to it (a person wider than the frame is tall keeps the frame's height)."""
  h, w = size
  x0, y0, x1, y1 = box
  side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
  side = max(side, MIN_BOX * min(h, w))
  bw, bh = min(side, w), min(side, h)
  left = min(max((x0 + x1) / 2 - bw / 2, 0), w - bw)
  top = min(max((y0 + y1) / 2 - bh / 2, 0), h - bh)
  return video.clip_box((round(left), round(top), round(left + bw), round(top + bh)), h, w)


def mask_box(frames: list[np.ndarray]) -> video.Box | None:
  """Bounding box of the nonzero depth pixels over all frames; None for an empty mask."""
  union = np.zeros(frames[0].shape, bool)
  for f in frames:
    union |= f > 0
  if not union.any():
    return None
  rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
  return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def depth_to_color(box: video.Box, depth_size: tuple[int, int],
                   color_size: tuple[int, int]) -> video.Box:
  """A depth-pixel box in colour pixels (`DEPTH_TO_COLOR`), for any stored frame sizes."""
  (dh, dw), (ch, cw) = depth_size, color_size
  x0, y0, x1, y1 = box
  xs = [((x * DEPTH_SIZE[1] / dw - DEPTH_SIZE[1] / 2) * DEPTH_TO_COLOR + RGB_SIZE[1] / 2)
        * cw / RGB_SIZE[1] for x in (x0, x1)]
  ys = [((y * DEPTH_SIZE[0] / dh - DEPTH_SIZE[0] / 2) * DEPTH_TO_COLOR + RGB_SIZE[0] / 2)
        * ch / RGB_SIZE[0] for y in (y0, y1)]
  return int(np.floor(xs[0])), int(np.floor(ys[0])), int(np.ceil(xs[1])), int(np.ceil(ys[1]))


def skeleton_boxes(path: str, rgb_size: tuple[int, int] | None,
                   depth_size: tuple[int, int] | None) -> tuple[video.Box | None, video.Box | None]:
  """Person boxes from the skeleton: (RGB box, depth box) for the given frame sizes (None for
  a modality not asked). Pixel columns are scaled from the 1920x1080 / 512x424 the skeleton
  refers to. Raises FormatError when the skeleton is unusable."""
  color, depth = skeleton_pixels(path)
  boxes = []
  for points, size, ref in ((color, rgb_size, RGB_SIZE), (depth, depth_size, DEPTH_SIZE)):
    if size is None:
      boxes.append(None)
      continue
    box = points_box(points * (size[1] / ref[1], size[0] / ref[0]), size)
    if box is None:
      raise FormatError("no skeleton joint inside the frame")
    boxes.append(square_box(box, size))
  return boxes[0], boxes[1]


# --- conversion --------------------------------------------------------------------------------

def _person_boxes(skeleton: str, depth_frames, rgb_size, depth_size, notes):
  """(method, RGB box, depth box): skeleton, else depth mask, else centre (`notes` says why)."""
  if skeleton:
    try:
      rgb_box, depth_box = skeleton_boxes(skeleton, rgb_size, depth_size)
      return "skeleton", rgb_box, depth_box
    except (FormatError, ValueError, IndexError, OSError) as e:
      notes.append(f"skeleton unusable for the crop ({e})")
  else:
    notes.append("no skeleton file")
  if depth_frames is not None:
    try:
      mask_frames = depth_frames()
    except FormatError as e:
      mask_frames = None
      notes.append(f"depth mask unusable ({e})")
    box = mask_box(mask_frames) if mask_frames else None
    if box is not None:
      mask_size = mask_frames[0].shape
      rgb_box = square_box(depth_to_color(box, mask_size, rgb_size), rgb_size) if rgb_size else None
      return "depth_mask", rgb_box, square_box(box, depth_size) if depth_size else None
    if mask_frames:
      notes.append("empty depth mask")
  return ("centre", video.centre_box(rgb_size) if rgb_size else None,
          video.centre_box(depth_size) if depth_size else None)


def convert(rgb: str, depth: str, skeleton: str, *, modalities: tuple[str, ...], crop: str,
            short_side: int, quality: int, depth_format: str = "png") -> video.Converted:
  """One sample from its `rgb` video, `depth` folder and `skeleton` file ("" = absent); stores
  `modalities`. `crop`: person (skeleton, else depth mask, else centre), centre or none. The
  depth mask serves the RGB crop even when depth is not stored."""
  notes: list[str] = []
  store_rgb, store_depth = "rgb" in modalities, "depth" in modalities
  if (store_rgb and not rgb) or (store_depth and not depth):
    raise FormatError("RGB video missing" if store_rgb and not rgb else "depth folder missing")
  files = depth_files(depth) if depth else []
  if store_depth and not files:
    raise FormatError(f"no {DEPTH_GLOB} in {depth}")
  cache: list = []

  def frames():  # depth is read once, whether for the mask or for the clip
    if not cache:
      cache.append(video.read_depth_frames(files))
    return cache[0]

  rgb_size = depth_size = None
  if store_rgb:
    info = video.probe_video(rgb)
    rgb_size = (info.height, info.width)
  if store_depth:
    depth_size = frames()[0].shape
  if crop == "none":
    method, rgb_box, depth_box = "none", None, None
  elif crop == "centre":
    method = "centre"
    rgb_box, depth_box = (video.centre_box(s) if s else None for s in (rgb_size, depth_size))
  else:
    method, rgb_box, depth_box = _person_boxes(skeleton, frames if files else None, rgb_size,
                                               depth_size, notes)
  rgb_clip = depth_clip = None
  if store_rgb:
    rgb_clip = video.rgb_clip_from_video(rgb, short_side=short_side, box=rgb_box, quality=quality)
  if store_depth:
    if frames()[0].dtype != np.uint16:
      notes.append("8-bit depth PNGs (masked depth is 16-bit millimetres)")
    depth_clip = video.depth_clip(frames(), short_side=short_side, box=depth_box, fmt=depth_format)
  if rgb_clip and depth_clip and rgb_clip.num_frames != depth_clip.num_frames:
    notes.append(f"{rgb_clip.num_frames} RGB frames, {depth_clip.num_frames} depth frames")
  return video.Converted(rgb_clip, depth_clip, method, rgb_box if store_rgb else depth_box, notes)
