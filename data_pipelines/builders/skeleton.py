"""TFDS builders for the skeleton datasets, wrapping the same readers and denoising as `prepare`.

    tfds build ntu60/xsub --imports data_pipelines.builders --manual_dir <NTU skeletons folder>
    tfds.builder("ntu60/xsub").as_dataset(split="train")   # after `import data_pipelines.builders`

Features: `keypoint` float32 (M, T, V, C) (raw coordinates, M <= 2), `label`, `name`, `num_frames`
and the dataset's integer ids. Inputs that fail to convert are logged and left out; `prepare`
records them in rejected.jsonl instead.
"""
from __future__ import annotations

import logging

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines import splits
from data_pipelines.errors import DataError
from data_pipelines.formats import catalog

_NTU_HOMEPAGE = "https://rose1.ntu.edu.sg/dataset/actionRecognition/"
_NTU_INSTRUCTIONS = """\
Request NTU RGB+D {n} skeletons at https://rose1.ntu.edu.sg/dataset/actionRecognition/ and unzip the
skeleton archive(s) ({files}) into the manual folder: the `.skeleton` files may sit directly in it
or in sub-folders. Samples missing from the folder are counted, not required.
"""
_ID_KEYS = {"ntu60": ("setup", "camera", "performer", "replication"),
            "ntu120": ("setup", "camera", "performer", "replication"),
            "nwucla": ("subject", "episode", "view"),
            "kinetics_skeleton": ()}


class _SkeletonBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Shared logic; subclasses set DATASET (a `formats.catalog` name)."""
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Raw coordinates after SGN/CTR-GCN denoising (NTU)."}
  DATASET = ""
  HOMEPAGE = ""

  def _class_label(self) -> tfds.features.ClassLabel:
    raise NotImplementedError

  def _info(self) -> tfds.core.DatasetInfo:
    spec = catalog.spec(self.DATASET)
    features = {
        "keypoint": tfds.features.Tensor(shape=(None, None, spec.num_joints, spec.channels),
                                         dtype=np.float32, encoding=tfds.features.Encoding.BYTES),
        "label": self._class_label(),
        "name": tfds.features.Text(),
        "num_frames": np.int64,
    }
    features.update({k: np.int64 for k in _ID_KEYS[self.DATASET]})
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(features), supervised_keys=("keypoint", "label"),
        homepage=self.HOMEPAGE,
        metadata=tfds.core.MetadataDict(bone_pairs=[list(p) for p in spec.bone_pairs]))

  def _protocol(self) -> str:
    return self.builder_config.name if self.builder_config else ""

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    listing = catalog.spec(self.DATASET).list_inputs(str(dl_manager.manual_dir))
    for path, reason in listing.rejected:
      logging.warning("rejected %s: %s", path, reason)
    protocol = self._protocol()
    by_split = {"train": [], "test": []}
    for task in listing.tasks:
      by_split[dict(task.splits)[protocol]].append(task)
    return {split: self._generate_examples(tasks) for split, tasks in by_split.items()}

  def _generate_examples(self, tasks):
    for task in tasks:
      try:
        sample = catalog.convert(self.DATASET, task)
      except DataError as e:
        logging.warning("rejected %s: %s", task.path, e)
        continue
      yield task.name, {"keypoint": sample.keypoint, "label": sample.label, "name": sample.name,
                        "num_frames": sample.keypoint.shape[1], **sample.ids}


class _Ntu(_SkeletonBuilder, skip_registration=True):
  HOMEPAGE = _NTU_HOMEPAGE

  def _class_label(self):
    return tfds.features.ClassLabel(names=list(splits.ntu_class_names(self.DATASET)))


class Ntu60(_Ntu):
  """NTU RGB+D 60 skeletons; configs xsub (cross-subject) and xview (cross-view)."""
  DATASET = "ntu60"
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="xsub", description="cross-subject"),
                     tfds.core.BuilderConfig(name="xview", description="cross-view")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = _NTU_INSTRUCTIONS.format(
      n=60, files="nturgbd_skeletons_s001_to_s017.zip")


class Ntu120(_Ntu):
  """NTU RGB+D 120 skeletons; configs xsub (cross-subject) and xset (cross-setup)."""
  DATASET = "ntu120"
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="xsub", description="cross-subject"),
                     tfds.core.BuilderConfig(name="xset", description="cross-setup")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = _NTU_INSTRUCTIONS.format(
      n=120, files="nturgbd_skeletons_s001_to_s017.zip and nturgbd_skeletons_s018_to_s032.zip")


class Nwucla(_SkeletonBuilder):
  """Northwestern-UCLA Multiview Action 3D (all_sqe JSON release); train views 1-2, test view 3."""
  DATASET = "nwucla"
  HOMEPAGE = "https://wangjiangb.github.io/my_data.html"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Put the NW-UCLA `all_sqe` JSON files (aAA_sSS_eEE_vVV.json, as used by CTR-GCN) in the manual folder.
"""

  def _class_label(self):
    return tfds.features.ClassLabel(names=list(splits.NWUCLA_CLASS_NAMES))


class KineticsSkeleton(_SkeletonBuilder):
  """Kinetics-Skeleton (st-gcn release, OpenPose-18); val is the test split."""
  DATASET = "kinetics_skeleton"
  HOMEPAGE = "https://github.com/yysijie/st-gcn"
  NUM_CLASSES = 400
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Unpack the st-gcn Kinetics-Skeleton release into the manual folder so that it holds kinetics_train/,
kinetics_val/, kinetics_train_label.json and kinetics_val_label.json.
"""

  def _class_label(self):
    return tfds.features.ClassLabel(num_classes=self.NUM_CLASSES)
