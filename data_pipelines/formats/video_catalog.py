"""Per-dataset video conversion shared by `prepare` and the TFDS builders (video_data.md):
listing raw videos / frame folders with their splits and labels, and turning one into a
`VideoSample` (RGB and / or depth `Clip`s). `convert` runs in TF-free workers.
"""
from __future__ import annotations

import dataclasses
import os

from data_pipelines import splits as ntu_splits_lib
from data_pipelines.errors import DataError
from data_pipelines.formats import isogd, ntu_video, video, video_list
from data_pipelines.formats.catalog import Listing

VIDEO_DATASETS = ("ntu60_video", "ntu120_video", "isogd", "video_list")
MODALITIES = ("rgb", "depth")
CROPS = ("", "person", "centre", "none")
NTU_DEPTH_MAX = 4500.0  # mm: Kinect v2's specified range (0.5-4.5 m); masked depth rarely exceeds it
DEPTH_MAX_8BIT = 255.0


@dataclasses.dataclass(frozen=True)
class VideoOptions:
  """How to convert. short_side: 0 = the dataset's default, -1 = source size. crop: "" = the
  dataset's default (NTU person, else none), person (NTU only), centre or none. list_files:
  video_list's (split, list file) pairs, in split order; paths and roots absolute or relative to
  the raw folder."""
  modalities: tuple[str, ...] = ("rgb", "depth")
  short_side: int = 0
  jpeg_quality: int = 90
  depth_format: str = "png"
  crop: str = ""
  skeleton_dir: str = ""
  list_files: tuple[tuple[str, str], ...] = ()
  rgb_root: str = ""
  depth_root: str = ""
  label_base: int = 0

  def __post_init__(self):
    modalities = (self.modalities,) if isinstance(self.modalities, str) else tuple(self.modalities)
    bad = [m for m in modalities if m not in MODALITIES]
    if bad or not modalities:
      raise DataError(f"modalities {modalities}: use rgb, depth or both")
    object.__setattr__(self, "modalities", tuple(m for m in MODALITIES if m in modalities))
    lists = self.list_files.items() if isinstance(self.list_files, dict) else self.list_files
    object.__setattr__(self, "list_files", tuple((str(s), str(p)) for s, p in lists))
    if self.depth_format not in ("png", "jpeg"):
      raise DataError(f"depth_format {self.depth_format!r}: png or jpeg")
    if self.crop not in CROPS:
      raise DataError(f"crop {self.crop!r}: one of person, centre, none")
    if not 1 <= self.jpeg_quality <= 100:
      raise DataError(f"jpeg_quality {self.jpeg_quality} outside 1..100")
    if self.label_base not in (0, 1):
      raise DataError(f"label_base {self.label_base}: 0 or 1")


@dataclasses.dataclass(frozen=True, slots=True)
class VideoTask:
  """One raw sample: its files, label and splits; small and picklable (sent to workers)."""
  name: str
  path: str  # what reports name: the RGB video / folder, else the depth one
  label: int  # 0-based, -1 unlabelled
  ids: tuple[tuple[str, int], ...]
  splits: tuple[tuple[str, str], ...]  # ((protocol, split), ...)
  rgb: str = ""
  depth: str = ""
  skeleton: str = ""
  stated_frames: int = -1  # frame count a list states; -1 when none
  notes: tuple[str, ...] = ()


@dataclasses.dataclass
class VideoSample:
  name: str
  label: int
  ids: dict[str, int]
  rgb: video.Clip | None
  depth: video.Clip | None
  crop: str  # skeleton | depth_mask | centre | none
  crop_box: tuple[int, int, int, int] | None  # source pixels of the RGB (else depth) frame
  notes: tuple[str, ...] = ()


# --- NTU ---------------------------------------------------------------------------------------

def ntu_listing(dataset: str, found: ntu_video.Found, skeletons: dict[str, str],
                modalities: tuple[str, ...]) -> Listing:
  """Tasks of the NTU names found, with the skeleton converter's splits and exclusions
  (`catalog._list_ntu`), so split counts match it. Filesystem-free, for tests on name lists."""
  limits = ntu_splits_lib.NTU_LIMITS[dataset]
  missing = ntu_splits_lib.ntu_missing_names(dataset)
  rejected, skipped, tasks = list(found.rejected), [], []
  present = set()
  for name in sorted(set(found.rgb) | set(found.depth)):
    rgb, depth = found.rgb.get(name, ""), found.depth.get(name, "")
    path = rgb or depth
    ids = ntu_splits_lib.parse_ntu_name(name)
    bad = [k for k, hi in ntu_splits_lib.NTU_MAX.items() if not 1 <= ids[k] <= hi]
    if bad:
      top = ntu_splits_lib.NTU_MAX[bad[0]]
      rejected.append((path, f"{bad[0]} id {ids[bad[0]]} out of range 1..{top}"))
      present.add(name)
      continue
    if ids["action"] > limits["action"] or ids["setup"] > limits["setup"]:
      skipped.append((path, f"not part of {dataset} (NTU-120 sample)"))
      continue
    if name in missing:
      skipped.append((path, f"listed in {dataset}_missing_skeletons.txt (excluded by the protocols)"))
      continue
    if not all((rgb, depth)[MODALITIES.index(m)] for m in modalities):
      if rgb and "rgb" in modalities or depth and "depth" in modalities:
        rejected.append((path, "depth folder missing" if rgb else "RGB video missing"))
        present.add(name)
      continue  # nothing of the requested modality: not part of this conversion
    if "depth" in modalities and found.depth_frames.get(name, 0) == 0:
      rejected.append((depth, f"no {ntu_video.DEPTH_GLOB} in the depth folder"))
      present.add(name)
      continue
    present.add(name)
    action = ids.pop("action")
    task_splits = ntu_splits_lib.ntu_splits(dataset, {**ids, "action": action})
    tasks.append(VideoTask(name, path, action - 1, tuple(ids.items()), tuple(task_splits.items()),
                           rgb=rgb, depth=depth, skeleton=skeletons.get(name, "")))
  absent = sum(1 for n in ntu_splits_lib.ntu_available_names(dataset) if n not in present)
  return Listing(tasks, rejected, skipped, absent, list(ntu_splits_lib.ntu_class_names(dataset)))


def _skeleton_files(folder: str) -> dict[str, str]:
  if not folder or not os.path.isdir(folder):
    return {}
  return {f[:-len(".skeleton")]: os.path.join(folder, f) for f in sorted(os.listdir(folder))
          if f.endswith(".skeleton")}


# --- the converter -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VideoConverter:
  """A video dataset as `prepare` drives it (the interface of `catalog.SkeletonConverter`)."""
  dataset: str
  options: VideoOptions = dataclasses.field(default_factory=VideoOptions)
  default_shard_size: int = 100  # ~100 NTU clips at 256 px: ~150 MB
  chunk: int = 2  # samples per worker call: clips are heavy

  def __post_init__(self):
    if self.dataset not in VIDEO_DATASETS:
      raise DataError(f"unknown video dataset {self.dataset!r}; known: {', '.join(VIDEO_DATASETS)}")
    if self.options.crop == "person" and not self._ntu:
      raise DataError("crop 'person' needs NTU skeletons or depth masks; use centre or none")
    if self.dataset == "video_list" and not self.options.list_files:
      raise DataError("video_list needs list files: (split, path) pairs")

  @property
  def _ntu(self) -> bool:
    return self.dataset.startswith("ntu")

  @property
  def _ntu_name(self) -> str:
    return self.dataset.removesuffix("_video")

  @property
  def protocols(self) -> tuple[str, ...]:
    return ntu_splits_lib.NTU_PROTOCOLS[self._ntu_name] if self._ntu else ("",)

  @property
  def splits(self) -> tuple[str, ...]:
    if self._ntu:
      return ("train", "test")
    if self.dataset == "isogd":
      return isogd.SPLITS
    return tuple(dict.fromkeys(s for s, _ in self.options.list_files))

  @property
  def default_short_side(self) -> int:
    return {"isogd": 240}.get(self.dataset, 256)  # IsoGD ships 320x240: native

  @property
  def short_side(self) -> int:
    """The short side stored (0 = source size)."""
    s = self.options.short_side
    return self.default_short_side if s == 0 else max(s, 0)

  @property
  def crop(self) -> str:
    return self.options.crop or ("person" if self._ntu else "none")

  @property
  def class_names(self) -> list[str]:
    """NTU and IsoGD; video_list's come from its lists (`list_inputs(...).class_names`)."""
    if self._ntu:
      return list(ntu_splits_lib.ntu_class_names(self._ntu_name))
    if self.dataset == "isogd":  # the release names gestures by number only
      return [f"class_{i:03d}" for i in range(1, isogd.NUM_CLASSES + 1)]
    return []

  def info(self) -> dict:
    """Dataset-specific dataset_info keys."""
    out = {"modalities": list(self.options.modalities), "short_side": self.short_side,
           "crop": self.crop, "jpeg_quality": self.options.jpeg_quality}
    if "depth" in self.options.modalities:
      out["depth_max"] = NTU_DEPTH_MAX if self._ntu else DEPTH_MAX_8BIT
      out["depth_format"] = "png" if self._ntu else self.options.depth_format
    return out

  # --- listing ---

  def list_inputs(self, raw_dir: str) -> Listing:
    o = self.options
    if self._ntu:
      found = ntu_video.find(raw_dir)
      skeleton_dir = o.skeleton_dir or os.path.join(raw_dir, ntu_video.SKELETON_DIR)
      return ntu_listing(self._ntu_name, found, _skeleton_files(skeleton_dir), o.modalities)
    if self.dataset == "isogd":
      lists = isogd.list_isogd(raw_dir, o.modalities)
      tasks = [VideoTask(e.name, e.rgb or e.depth, e.label, (), (("", e.split),), rgb=e.rgb,
                         depth=e.depth) for e in lists.entries]
      return Listing(sorted(tasks, key=lambda t: t.name), lists.rejected, [], lists.absent,
                     self.class_names, lists.notes)
    entries, rejected = video_list.list_videos(
        raw_dir, o.list_files, rgb_root=o.rgb_root, depth_root=o.depth_root,
        modalities=o.modalities, label_base=o.label_base)
    tasks = [VideoTask(e.name, e.rgb or e.depth, e.label, (), (("", e.split),), rgb=e.rgb,
                       depth=e.depth, stated_frames=e.stated_frames) for e in entries]
    num_classes = max((e.label for e in entries), default=-1) + 1
    return Listing(sorted(tasks, key=lambda t: t.name), rejected, [], 0,
                   [f"class_{i}" for i in range(num_classes)])

  # --- conversion (workers) ---

  def convert(self, task: VideoTask) -> VideoSample:
    """Decodes and re-encodes one sample; raises FormatError (or DataError) with the reason."""
    o = self.options
    kw = dict(modalities=o.modalities, crop=self.crop, short_side=self.short_side,
              quality=o.jpeg_quality, depth_format=o.depth_format)
    if self._ntu:
      out = ntu_video.convert(task.rgb, task.depth, task.skeleton, **kw)
    else:
      out = video.convert_pair(task.rgb, task.depth, **kw)
    notes = list(task.notes) + out.notes
    if task.stated_frames >= 0:
      clip = out.rgb or out.depth
      if clip.num_frames != task.stated_frames:
        notes.append(f"the list states {task.stated_frames} frames, the source holds"
                     f" {clip.num_frames}")
    return VideoSample(task.name, task.label, dict(task.ids), out.rgb, out.depth, out.crop,
                       out.crop_box, tuple(notes))

  def serialize(self, sample: VideoSample) -> bytes:
    """The record of one sample (parent process: imports TensorFlow)."""
    from data_pipelines import video_records
    return video_records.serialize(sample)
