"""TFDS builders for the video datasets, wrapping the same `VideoConverter` as `prepare`.

    tfds build ntu60_video/xsub --imports data_pipelines.builders --manual_dir <NTU folder>
    tfds build isogd --imports data_pipelines.builders --manual_dir <IsoGD folder>
    tfds.builder("ntu60_video/xsub").as_dataset(split="train")  # after `import data_pipelines.builders`

Configs: one per protocol (NTU-60 `xsub`, `xview`; NTU-120 `xsub`, `xset`; IsoGD `rgbd`) with RGB
and depth, plus `<protocol>_rgb` / `<protocol>_depth` (IsoGD `rgb`, `depth`) with one modality.
Other conversion options (short side, JPEG quality, crop) go in a custom `VideoConfig`, e.g.
`Ntu60Video(config=VideoConfig(name="xsub_160", protocol="xsub", short_side=160))`: options that
change the stored data belong to the config, so that each variant gets its own data folder.

Features:
  rgb          `tfds.features.Video((None, None, None, 3), uint8, "jpeg")`: the converter's JPEG
               frames, stored byte for byte (no decode / re-encode): `Image.encode_example` passes
               `bytes` through, and `Video` is a `Sequence(Image)` that takes a list of frames.
  depth        `Video((None, None, None, 1), uint16, "png")` (NTU masked depth, millimetres; an
               8-bit depth PNG is widened losslessly to 16 bits so decoded values stay the source
               values) or `uint8` png / jpeg (IsoGD depth video).
  label        ClassLabel (-1: unlabelled, IsoGD lists without labels)
  name, crop   Text (`crop`: skeleton, depth_mask, centre or none)
  crop_box     int64 (4,): x0, y0, x1, y1 in source pixels (zeros for none)
  num_frames   int64: frames on the sampling timeline (RGB's if stored, else depth's); RGB and
               depth keep their own counts (docs/video_data.md, pairing rule)
  fps          float32, 0 for image folders
  NTU ids      setup, camera, performer, replication
Metadata (`builder.info.metadata`): `prepare`'s dataset_info keys (modalities, short_side, crop,
jpeg_quality, depth_max, depth_format): depth_max is what the trainer divides depth by.

Why `Video` of encoded frames: the records hold exactly the bytes `prepare` writes (same JPEG,
same PNG), `as_dataset()` decodes them to uint8 / uint16 tensors with `tf.image.decode_image`, and
a video pipeline that samples frames before decoding reads the encoded frames with
`as_dataset(..., decoders={"rgb": tfds.decode.SkipDecoding()})` (a string vector, one frame per
entry) and decodes only the frames it picks (`tf.io.decode_jpeg`, `tf.io.decode_png(dtype=uint16)`).
A `Sequence(Tensor(shape=(), dtype=tf.string))` would store the same bytes but lose the decoding.

Inputs that fail to convert are logged and left out; `prepare` records them in rejected.jsonl
instead.

Beam: for releases too large for one machine `_generate_examples` returns a Beam `PTransform`
(`Create(tasks) | Reshuffle() | FlatMap(convert)`; the reshuffle spreads the conversions over the
workers instead of fusing them onto the one that created the list; counters `converted` and
`rejected` in the builder's namespace). It is used when the builder is
made with `beam=True`, or with `beam=None` (the default) when the `DownloadConfig` names a
`beam_runner` or `beam_options` (what `tfds build --beam_pipeline_options=...` sets). Both forms
write the same examples. The in-process form converts one sample at a time; on one many-core
machine use the Beam form with `runner=DirectRunner,direct_running_mode=multi_processing,
direct_num_workers=N`. On a cluster the inputs are listed on the launching machine and read by the
workers with ordinary file I/O (PyAV, PIL): the manual folder must be mounted at the same path on
all of them (NFS, Filestore, GCS FUSE), while `--data_dir` may be a gs:// / hdfs:// path.
"""
from __future__ import annotations

import dataclasses
import io
import logging
from typing import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines import prepare
from data_pipelines.errors import DataError

_NTU_HOMEPAGE = "https://rose1.ntu.edu.sg/dataset/actionRecognition/"
_NTU_INSTRUCTIONS = """\
Request NTU RGB+D {n} at https://rose1.ntu.edu.sg/dataset/actionRecognition/ and unzip the RGB videos
({rgb}) and the masked depth maps ({depth}) into the manual folder, so that it holds
nturgb+d_rgb/<name>_rgb.avi and nturgb+d_depth_masked/<name>/MDepth-*.png. Unzip the skeletons
({skel}) next to them (nturgb+d_skeletons/) for the person-centred crop; without them the crop
comes from the depth mask. A `_rgb` config needs only the videos, a `_depth` config only the depth
maps. Samples missing from the folder are counted, not required.
"""
_NTU_ID_KEYS = ("setup", "camera", "performer", "replication")


@dataclasses.dataclass(eq=False)
class VideoConfig(tfds.core.BuilderConfig):
  """A protocol, the stored modalities and the conversion options (`prepare`'s video options)."""
  protocol: str = ""
  modalities: tuple[str, ...] = ("rgb", "depth")
  short_side: int = 0  # 0: the dataset's default (NTU 256, IsoGD 240 = native), -1: source size
  jpeg_quality: int = 90
  depth_format: str = "png"  # 8-bit depth only (IsoGD); 16-bit depth is always PNG
  crop: str = ""  # "" (the dataset's default: NTU person, IsoGD none), person (NTU), centre, none


def _configs(protocols: Sequence[tuple[str, str]], single: str = "") -> list[VideoConfig]:
  """For each (protocol, description): RGB + depth, RGB only, depth only. `single`: the name of
  the RGB + depth config of a one-protocol dataset (its others are then `rgb` and `depth`)."""
  out = []
  for protocol, description in protocols:
    base = single or protocol
    prefix = "" if single else f"{protocol}_"
    out += [VideoConfig(name=base, protocol=protocol, description=f"{description}, RGB + depth"),
            VideoConfig(name=f"{prefix}rgb", protocol=protocol, modalities=("rgb",),
                        description=f"{description}, RGB"),
            VideoConfig(name=f"{prefix}depth", protocol=protocol, modalities=("depth",),
                        description=f"{description}, depth")]
  return out


@dataclasses.dataclass(frozen=True)
class _Spec:
  """What `_examples` needs (small and picklable: shipped to Beam workers with the converter)."""
  modalities: tuple[str, ...]
  id_keys: tuple[str, ...]
  depth_bits: int


def _widen_depth(frames: list[bytes]) -> list[bytes]:
  """8-bit depth PNGs -> 16-bit PNGs with the same values (the feature's dtype is uint16)."""
  from PIL import Image

  from data_pipelines.formats import video
  out = []
  for f in frames:
    with Image.open(io.BytesIO(f)) as img:
      out.append(video.encode_png(np.asarray(img).astype(np.uint16)))
  return out


def _example(sample, spec: _Spec) -> dict:
  clips = {m: getattr(sample, m, None) for m in spec.modalities}
  missing = [m for m, clip in clips.items() if clip is None]
  if missing:
    raise ValueError(f"no {missing[0]} frames")
  ex = {
      "label": sample.label,
      "name": sample.name,
      "crop": sample.crop,
      "crop_box": np.asarray(sample.crop_box or (0, 0, 0, 0), np.int64),
      "fps": np.float32(next((c.fps for c in clips.values() if c.fps), 0.0)),
      "num_frames": len(clips[spec.modalities[0]].frames),
  }
  ids = dict(sample.ids)
  ex.update({k: ids[k] for k in spec.id_keys})
  for m, clip in clips.items():
    frames = list(clip.frames)
    if m == "depth" and clip.bits != spec.depth_bits:
      if clip.bits > spec.depth_bits or clip.encoding != "png":
        raise ValueError(f"{clip.bits}-bit {clip.encoding} depth where {spec.depth_bits}-bit is stored")
      frames = _widen_depth(frames)
    ex[m] = frames
  return ex


def _examples(task, converter, spec: _Spec, counters=None) -> Iterator[tuple[str, dict]]:
  """(key, example) of one task, or nothing when it fails to convert (logged), as `prepare`.
  counters: Beam (converted, rejected) counters in the Beam form."""
  status, value = prepare.convert_one(converter, task)
  if status == "ok":
    try:
      example = _example(value, spec)
    except ValueError as e:
      value = str(e)
    else:
      if counters:
        counters[0].inc()
      yield task.name, example
      return
  if counters:
    counters[1].inc()
  logging.warning("rejected %s: %s", task.path, value)


class _VideoBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Shared logic; subclasses set DATASET (a `prepare.VIDEO_DATASETS` name)."""
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Frames as converted by `prepare` (same VideoConverter)."}
  DATASET = ""
  HOMEPAGE = ""
  ID_KEYS: tuple[str, ...] = ()
  DEPTH_BITS = 16

  def __init__(self, *, beam: bool | None = None, **kwargs):
    """beam: True: Beam form; False: in-process; None: Beam iff the DownloadConfig names a
    beam_runner or beam_options."""
    self._beam = beam
    self._use_beam = bool(beam)
    super().__init__(**kwargs)

  def _depth_feature(self) -> tfds.features.Video:
    fmt = "png" if self.DEPTH_BITS == 16 else self.builder_config.depth_format
    return tfds.features.Video((None, None, None, 1), encoding_format=fmt,
                               dtype=np.uint16 if self.DEPTH_BITS == 16 else np.uint8)

  def _info(self) -> tfds.core.DatasetInfo:
    config, converter = self.builder_config, self._converter()
    features = {
        "label": tfds.features.ClassLabel(names=converter.class_names),
        "name": tfds.features.Text(),
        "num_frames": np.int64,
        "fps": np.float32,
        "crop": tfds.features.Text(),
        "crop_box": tfds.features.Tensor(shape=(4,), dtype=np.int64),
    }
    if "rgb" in config.modalities:
      features["rgb"] = tfds.features.Video((None, None, None, 3), encoding_format="jpeg")
    if "depth" in config.modalities:
      features["depth"] = self._depth_feature()
    features.update({k: np.int64 for k in self.ID_KEYS})
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(features),
        supervised_keys=(config.modalities[0], "label"), homepage=self.HOMEPAGE,
        # prepare's dataset_info keys: modalities, short_side, crop, jpeg_quality, depth_max, ...
        metadata=tfds.core.MetadataDict(converter.info()))

  def _converter(self):
    c = self.builder_config
    return prepare.converter_for(self.DATASET, modalities=tuple(c.modalities),
                                 short_side=c.short_side, jpeg_quality=c.jpeg_quality,
                                 depth_format=c.depth_format, crop=c.crop)

  def _download_and_prepare(self, dl_manager, download_config):
    if self._beam is None:
      self._use_beam = (download_config.beam_runner is not None or
                        download_config.beam_options is not None)
    return super()._download_and_prepare(dl_manager, download_config)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    converter = self._converter()
    listing = converter.list_inputs(str(dl_manager.manual_dir))
    for path, reason in listing.rejected:
      logging.warning("rejected %s: %s", path, reason)
    for path, reason in listing.skipped:
      logging.info("skipped %s: %s", path, reason)
    for path, note in listing.notes:
      logging.info("note on %s: %s", path, note)
    protocol = self.builder_config.protocol
    by_split = {split: [] for split in converter.splits}
    for task in listing.tasks:
      for p, split in task.splits:
        if p == protocol:
          by_split.setdefault(split, []).append(task)
    for split in [s for s, tasks in by_split.items() if not tasks]:
      logging.warning("%s: no %s inputs: the split is left out", self.name, split)
      del by_split[split]
    if not by_split:
      raise DataError(f"no {self.DATASET} inputs of protocol {protocol or '(single)'} found under"
                      f" {dl_manager.manual_dir}")
    return {split: self._generate_examples(converter, tasks) for split, tasks in by_split.items()}

  def _spec(self) -> _Spec:
    return _Spec(tuple(self.builder_config.modalities), self.ID_KEYS, self.DEPTH_BITS)

  def _generate_examples(self, converter, tasks):
    # A plain function (not a generator function): it returns a generator or a Beam PTransform.
    spec = self._spec()
    if not self._use_beam:
      return (kv for task in tasks for kv in _examples(task, converter, spec))
    beam = tfds.core.lazy_imports.apache_beam
    counters = tuple(beam.metrics.Metrics.counter(self.name, k) for k in ("converted", "rejected"))
    return (beam.Create(tasks) | beam.Reshuffle()
            | beam.FlatMap(_examples, converter=converter, spec=spec, counters=counters))


class _NtuVideo(_VideoBuilder, skip_registration=True):
  HOMEPAGE = _NTU_HOMEPAGE
  ID_KEYS = _NTU_ID_KEYS
  DEPTH_BITS = 16


class Ntu60Video(_NtuVideo):
  """NTU RGB+D 60 RGB videos and masked depth; protocols xsub and xview."""
  DATASET = "ntu60_video"
  BUILDER_CONFIGS = _configs((("xsub", "cross-subject"), ("xview", "cross-view")))
  MANUAL_DOWNLOAD_INSTRUCTIONS = _NTU_INSTRUCTIONS.format(
      n=60, rgb="nturgbd_rgb_s001_to_s017.zip", depth="nturgbd_depth_masked_s001_to_s017.zip",
      skel="nturgbd_skeletons_s001_to_s017.zip")


class Ntu120Video(_NtuVideo):
  """NTU RGB+D 120 RGB videos and masked depth; protocols xsub and xset."""
  DATASET = "ntu120_video"
  BUILDER_CONFIGS = _configs((("xsub", "cross-subject"), ("xset", "cross-setup")))
  MANUAL_DOWNLOAD_INSTRUCTIONS = _NTU_INSTRUCTIONS.format(
      n=120, rgb="nturgbd_rgb_s001_to_s017.zip and nturgbd_rgb_s018_to_s032.zip",
      depth="nturgbd_depth_masked_s001_to_s017.zip and nturgbd_depth_masked_s018_to_s032.zip",
      skel="nturgbd_skeletons_s001_to_s017.zip and nturgbd_skeletons_s018_to_s032.zip")


class Isogd(_VideoBuilder):
  """ChaLearn LAP IsoGD isolated gestures (RGB M_*.avi + depth K_*.avi); splits train, valid, test."""
  DATASET = "isogd"
  HOMEPAGE = "https://www.cbsr.ia.ac.cn/users/jwan/database/isogd.html"
  DEPTH_BITS = 8
  BUILDER_CONFIGS = _configs((("", "IsoGD"),), single="rgbd")
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Request ChaLearn LAP IsoGD at https://www.cbsr.ia.ac.cn/users/jwan/database/isogd.html and unpack it
into the manual folder: either as released (IsoGD_phase_1/ with train/, valid/, train_list.txt,
valid_list.txt and IsoGD_phase_2/ with test/, test_list.txt) or with train/, valid/, test/ and the
three list files side by side. List lines are `train/001/M_00001.avi train/001/K_00001.avi 26`;
a list without the label column (the phase-1 valid list) gives label -1. A split whose list file
is absent is left out.
"""
