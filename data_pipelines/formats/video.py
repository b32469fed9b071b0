"""Video and image primitives of the video converters: PyAV decoding, frame folders, 16-bit PNG,
resize / crop, JPEG / PNG encoding, and the `Clip` a converted modality becomes (video_data.md).

TF-free on purpose: conversion workers import this module and must not start TensorFlow.
Frames are decoded in order and counted, never sought (NTU's AVIs carry out-of-order pts).
"""
from __future__ import annotations

import dataclasses
import io
import os
import re
from typing import Iterator, Sequence

import av
import numpy as np
from PIL import Image

from data_pipelines.errors import FormatError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# A header may announce a frame or two that no decoder returns (packed B-frame placeholders in
# XviD AVIs, an unfinished last GOP); a truncated file falls short by more.
TRUNCATION_SLACK = 2
PNG_COMPRESS_LEVEL = 3  # masked depth is mostly zeros: level 3 is ~2x faster than 6 at ~same size

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in pixels, x1 / y1 exclusive


@dataclasses.dataclass
class Clip:
  """One modality of a sample, every frame encoded (video_data.md, "Conversion types")."""
  frames: list[bytes]
  encoding: str  # "jpeg" | "png"
  bits: int  # 8 | 16
  channels: int  # 3 (RGB) | 1 (depth)
  num_frames: int
  fps: float  # 0 for image folders
  orig_size: tuple[int, int]  # (h, w) of the source frames
  size: tuple[int, int]  # (h, w) stored


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  height: int
  width: int
  fps: float
  announced: int  # frame count in the container header; 0 when it states none


# --- decoding ----------------------------------------------------------------------------------

def _open(path: str):
  try:
    container = av.open(path)
  except (av.error.FFmpegError, OSError) as e:
    raise FormatError(f"decoder: {e} after 0 frames") from None
  if not container.streams.video:
    container.close()
    raise FormatError("no video stream")
  return container


def probe_video(path: str) -> VideoInfo:
  """Size, frame rate and announced frame count from the container, without decoding."""
  with _open(path) as container:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or 0
    return VideoInfo(stream.height, stream.width, float(rate), int(stream.frames or 0))


def decode_video(path: str, *, size: tuple[int, int] | None = None,
                 pix_fmt: str = "rgb24") -> Iterator[np.ndarray]:
  """Every frame in decoding order: uint8 (H, W, 3) for rgb24, (H, W) for gray.

  `size` (h, w) resizes inside the decoder's converter (area when shrinking, bilinear when
  growing), much faster than converting the full frame first. Decoder errors raise FormatError
  with the decoder's message; so do videos without frames and videos that end before the frame
  count their header announces (FFmpeg stops silently at a truncated end).
  """
  count = 0
  with _open(path) as container:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    announced = int(stream.frames or 0)
    try:
      for frame in container.decode(stream):
        if size is None or (frame.height, frame.width) == tuple(size):
          array = frame.to_ndarray(format=pix_fmt)
        else:
          interpolation = "AREA" if size[0] < frame.height else "BILINEAR"
          array = frame.reformat(width=size[1], height=size[0], format=pix_fmt,
                                 interpolation=interpolation).to_ndarray()
        count += 1
        yield array
    except av.error.FFmpegError as e:
      raise FormatError(f"decoder: {e} after {count} frames") from None
  if count == 0:
    raise FormatError("no decodable frame")
  if 0 < announced and count < announced - TRUNCATION_SLACK:
    raise FormatError(f"truncated: decoded {count} of {announced} frames announced")


# --- images ------------------------------------------------------------------------------------

def _natural_key(name: str) -> list:
  return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


def natural_sorted(names: Sequence[str]) -> list[str]:
  """img_2 before img_10, whatever the index base or zero padding."""
  return sorted(names, key=lambda n: (_natural_key(n), n))


def list_frame_files(folder: str) -> list[str]:
  """Paths of the .jpg / .jpeg / .png files of `folder` (any case) in natural order of the name."""
  try:
    names = os.listdir(folder)
  except OSError as e:
    raise FormatError(f"cannot list {folder}: {e.strerror}") from None
  names = [n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
  return [os.path.join(folder, n) for n in natural_sorted(names)]


def read_image(path: str) -> np.ndarray:
  """uint8 (H, W, 3) colour, uint16 (H, W) for 16-bit grey PNG, uint8 (H, W) for 8-bit grey."""
  try:
    with Image.open(path) as img:
      img.load()
      mode = img.mode
      if mode.startswith("I;16"):  # I;16, I;16B, I;16L: numpy sees the right byte order
        return np.asarray(img).astype(np.uint16)
      if mode == "I":  # 32-bit integer: how some PIL versions open 16-bit PNG
        array = np.asarray(img)
        if array.min() < 0 or array.max() > 65535:
          raise FormatError(f"{os.path.basename(path)}: 32-bit values outside 0..65535")
        return array.astype(np.uint16)
      if mode in ("L", "1"):
        return np.asarray(img.convert("L"))
      return np.asarray(img.convert("RGB"))
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise FormatError(f"unreadable image {os.path.basename(path)}: {e}") from None


# --- geometry ----------------------------------------------------------------------------------

def _round(x: float) -> int:
  return int(np.floor(x + 0.5))


def resized_size(h: int, w: int, short_side: int) -> tuple[int, int]:
  """(h, w) scaled so the short side is `short_side`, aspect kept; 0 keeps the size."""
  if short_side <= 0:
    return h, w
  if h <= w:
    return short_side, max(1, _round(w * short_side / h))
  return max(1, _round(h * short_side / w)), short_side


def clip_box(box: Box | None, h: int, w: int) -> Box:
  """`box` clipped to an (h, w) frame; None is the full frame. An empty result raises."""
  if box is None:
    return 0, 0, w, h
  x0, y0, x1, y1 = (int(v) for v in box)
  x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
  if x1 <= x0 or y1 <= y0:
    raise FormatError(f"crop box {tuple(box)} lies outside the {w}x{h} frame")
  return x0, y0, x1, y1


def _nearest(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  index = lambda n, m: np.minimum(((np.arange(m) + 0.5) * n / m).astype(int), n - 1)
  rows, cols = index(img.shape[0], size[0]), index(img.shape[1], size[1])
  return img[rows[:, None], cols]


def crop_resize(img: np.ndarray, box: Box | None, size: tuple[int, int], nearest: bool) -> np.ndarray:
  """Crops `box` (None: whole frame) and resizes to `size` (h, w). `nearest` for depth: bilinear
  would blend the zero background into the person's edges."""
  x0, y0, x1, y1 = clip_box(box, img.shape[0], img.shape[1])
  img = img[y0:y1, x0:x1]
  if img.shape[:2] == tuple(size):
    return np.ascontiguousarray(img)
  if nearest:
    return _nearest(img, size)
  # PIL's bilinear widens its support when shrinking: an area-like filter, no aliasing.
  return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BILINEAR))


# --- encoding ----------------------------------------------------------------------------------

def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
  """JPEG of a uint8 (H, W, 3) or (H, W) image."""
  if img.dtype != np.uint8:
    raise FormatError(f"JPEG holds 8-bit images only, got {img.dtype}")
  out = io.BytesIO()
  Image.fromarray(img).save(out, "JPEG", quality=int(quality))
  return out.getvalue()


def encode_png(img: np.ndarray) -> bytes:
  """PNG of uint8 (H, W, 3) / (H, W) or 16-bit greyscale of uint16 (H, W) (exact through
  `tf.io.decode_png(dtype=tf.uint16)`)."""
  if img.dtype == np.uint16:
    if img.ndim != 2:
      raise FormatError("16-bit PNG is written for single-channel images only")
    pil = Image.fromarray(np.ascontiguousarray(img, dtype="<u2"))  # mode I;16
  elif img.dtype == np.uint8:
    pil = Image.fromarray(img)
  else:
    raise FormatError(f"PNG is written for uint8 / uint16 images, got {img.dtype}")
  out = io.BytesIO()
  pil.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
  return out.getvalue()


# --- clips -------------------------------------------------------------------------------------

def _decode_plan(orig: tuple[int, int], box: Box | None, short_side: int):
  """How to get the cropped, resized frame from the decoder: the full-frame size to ask the
  decoder for, the (y, x) offset of the crop in that frame, and the output size."""
  h, w = orig
  x0, y0, x1, y1 = clip_box(box, h, w)
  out = resized_size(y1 - y0, x1 - x0, short_side)
  sy, sx = out[0] / (y1 - y0), out[1] / (x1 - x0)
  scaled = (max(out[0], _round(h * sy)), max(out[1], _round(w * sx)))
  y = min(_round(y0 * sy), scaled[0] - out[0])
  x = min(_round(x0 * sx), scaled[1] - out[1])
  return (None if scaled == (h, w) else scaled), (y, x), out


def _video_clip(path: str, short_side: int, box: Box | None, pix_fmt: str, encode) -> Clip:
  info = probe_video(path)
  scaled, (y, x), out = _decode_plan((info.height, info.width), box, short_side)
  frames = []
  for array in decode_video(path, size=scaled, pix_fmt=pix_fmt):
    if scaled is None and array.shape[:2] != (info.height, info.width):
      raise FormatError(f"frame {len(frames)} is {array.shape[1]}x{array.shape[0]}, the stream"
                        f" {info.width}x{info.height}")
    frames.append(encode(np.ascontiguousarray(array[y:y + out[0], x:x + out[1]])))
  channels = 3 if pix_fmt == "rgb24" else 1
  return Clip(frames, "", 8, channels, len(frames), info.fps, (info.height, info.width), out)


def rgb_clip_from_video(path: str, *, short_side: int, box: Box | None, quality: int) -> Clip:
  """RGB JPEG clip of a video file: crop `box` (source pixels), short side `short_side`."""
  clip = _video_clip(path, short_side, box, "rgb24", lambda a: encode_jpeg(a, quality))
  clip.encoding = "jpeg"
  return clip


def depth_clip_from_video(path: str, *, short_side: int, box: Box | None, fmt: str = "png",
                          quality: int = 90) -> Clip:
  """8-bit depth video (IsoGD `K_*.avi`): the luma plane (R = G = B in such videos), (H, W)
  uint8, stored as PNG (lossless) or JPEG."""
  encode = encode_png if fmt == "png" else (lambda a: encode_jpeg(a, quality))
  clip = _video_clip(path, short_side, box, "gray", encode)
  clip.encoding = _check_format(fmt)
  return clip


def _check_format(fmt: str) -> str:
  if fmt not in ("png", "jpeg"):
    raise ValueError(f"depth format {fmt!r}: png or jpeg")
  return fmt


def _read_frames(files: Sequence[str], what: str) -> list[np.ndarray]:
  if not files:
    raise FormatError(f"no {what} image")
  frames = [read_image(f) for f in files]
  first = frames[0]
  for f, a in zip(files, frames):
    if a.shape != first.shape or a.dtype != first.dtype:
      raise FormatError(f"{os.path.basename(f)} is {a.dtype} {a.shape}, the first frame"
                        f" {first.dtype} {first.shape}")
  return frames


def rgb_clip_from_folder(folder: str, *, short_side: int, box: Box | None, quality: int,
                         files: Sequence[str] | None = None) -> Clip:
  """RGB JPEG clip of a frame folder (natural order; greyscale frames become RGB)."""
  frames = _read_frames(list_frame_files(folder) if files is None else files, "frame")
  h, w = frames[0].shape[:2]
  x0, y0, x1, y1 = clip_box(box, h, w)
  out = resized_size(y1 - y0, x1 - x0, short_side)
  encoded = []
  for a in frames:
    if a.dtype != np.uint8:
      raise FormatError("16-bit frames in an RGB frame folder")
    if a.ndim == 2:
      a = np.repeat(a[..., None], 3, -1)
    encoded.append(encode_jpeg(crop_resize(a, box, out, nearest=False), quality))
  return Clip(encoded, "jpeg", 8, 3, len(encoded), 0.0, (h, w), out)


def read_depth_frames(files: Sequence[str]) -> list[np.ndarray]:
  """Depth frames as (H, W) uint16 or uint8; colour depth images keep their first channel."""
  frames = _read_frames(files, "depth")
  return [a[..., 0] if a.ndim == 3 else a for a in frames]


def depth_clip(frames: Sequence[np.ndarray], *, short_side: int, box: Box | None,
               fmt: str = "png", quality: int = 90) -> Clip:
  """Depth clip of (H, W) uint16 / uint8 frames; nearest resize; 16-bit stays PNG."""
  _check_format(fmt)
  bits = 16 if frames[0].dtype == np.uint16 else 8
  if bits == 16 and fmt == "jpeg":
    raise FormatError("JPEG cannot hold 16-bit depth: use depth_format png")
  h, w = frames[0].shape
  x0, y0, x1, y1 = clip_box(box, h, w)
  out = resized_size(y1 - y0, x1 - x0, short_side)
  encode = encode_png if fmt == "png" else (lambda a: encode_jpeg(a, quality))
  encoded = [encode(crop_resize(a, box, out, nearest=True)) for a in frames]
  return Clip(encoded, fmt, bits, 1, len(encoded), 0.0, (h, w), out)


def depth_clip_from_pngs(folder: str, *, short_side: int, box: Box | None, fmt: str = "png",
                         files: Sequence[str] | None = None) -> Clip:
  """Depth clip of a PNG folder (NTU masked depth: uint16 mm; 8-bit PNG kept as bits = 8)."""
  frames = read_depth_frames(list_frame_files(folder) if files is None else files)
  return depth_clip(frames, short_side=short_side, box=box, fmt=fmt)


def centre_box(size: tuple[int, int]) -> Box:
  """The centre square of the short side of an (h, w) frame."""
  h, w = size
  side = min(h, w)
  return (w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side


def source_size(path: str) -> tuple[int, int]:
  """(h, w) of a video file or of the first image of a frame folder, without decoding it all."""
  if not os.path.isdir(path):
    info = probe_video(path)
    return info.height, info.width
  files = list_frame_files(path)
  if not files:
    raise FormatError(f"no image in {path}")
  try:
    with Image.open(files[0]) as img:
      return img.height, img.width
  except (OSError, ValueError) as e:
    raise FormatError(f"unreadable image {os.path.basename(files[0])}: {e}") from None


def clip_from_path(path: str, modality: str, *, short_side: int, crop: str, quality: int,
                   depth_format: str = "png") -> tuple[Clip, Box | None]:
  """Clip of a video file or frame folder; `crop` none or centre. Returns (clip, box)."""
  box = centre_box(source_size(path)) if crop == "centre" else None
  folder = os.path.isdir(path)
  if modality == "rgb":
    if folder:
      return rgb_clip_from_folder(path, short_side=short_side, box=box, quality=quality), box
    return rgb_clip_from_video(path, short_side=short_side, box=box, quality=quality), box
  if folder:
    return depth_clip_from_pngs(path, short_side=short_side, box=box, fmt=depth_format), box
  return depth_clip_from_video(path, short_side=short_side, box=box, fmt=depth_format,
                               quality=quality), box


@dataclasses.dataclass
class Converted:
  """What a format module's conversion hands to the catalog (which adds name, label, ids)."""
  rgb: Clip | None
  depth: Clip | None
  crop: str  # skeleton | depth_mask | centre | none
  crop_box: Box | None  # of the RGB frame when RGB is stored, else of the depth frame
  notes: list[str]


def convert_pair(rgb: str, depth: str, *, modalities: Sequence[str], crop: str, short_side: int,
                 quality: int, depth_format: str = "png") -> Converted:
  """RGB and / or depth of one sample from video files or frame folders (crop none | centre)."""
  kw = dict(short_side=short_side, crop=crop, quality=quality, depth_format=depth_format)
  rgb_clip = depth_clip = None
  box = None
  if "rgb" in modalities:
    rgb_clip, box = clip_from_path(rgb, "rgb", **kw)
  if "depth" in modalities:
    depth_clip, depth_box = clip_from_path(depth, "depth", **kw)
    box = box if rgb_clip else depth_box
  notes = []
  if rgb_clip and depth_clip and rgb_clip.num_frames != depth_clip.num_frames:
    notes.append(f"{rgb_clip.num_frames} RGB frames, {depth_clip.num_frames} depth frames")
  return Converted(rgb_clip, depth_clip, "none" if crop == "none" else "centre", box, notes)
