"""TFDS builders: build from synthetic raw files in a manual dir, read back with as_dataset."""
import os

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines import builders, splits, synthetic
from data_pipelines.formats import ntu, nwucla
from data_pipelines.preprocess import denoise


def test_ntu60_xview_builder_round_trip(tmp_path):
  raw = str(tmp_path / "manual")
  paths = synthetic.write_ntu(raw, num_classes=2, samples_per_class=6, seed=5, num_frames=(12, 20))
  # A bad file is left out of the splits; conversion goes on.
  with open(os.path.join(raw, "S002C001P002R002A001.skeleton"), "w") as f:
    f.write("3\r\n1\r\n")
  builder = builders.Ntu60(config="xview", data_dir=str(tmp_path / "tfds"))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=raw))
  assert builder.info.features["label"].num_classes == 60
  assert "rose1.ntu.edu.sg" in builders.Ntu60.MANUAL_DOWNLOAD_INSTRUCTIONS
  expected = {"train": set(), "test": set()}
  for p in paths:
    name = os.path.basename(p)[:-9]
    expected[splits.ntu_splits("ntu60", splits.parse_ntu_name(name))["xview"]].add(name)
  for split in ("train", "test"):
    got = list(tfds.as_numpy(builder.as_dataset(split=split)))
    assert {ex["name"].decode() for ex in got} == expected[split]
    for ex in got:
      name = ex["name"].decode()
      ids = splits.parse_ntu_name(name)
      kp = denoise.denoise_ntu(ntu.read_ntu(os.path.join(raw, name + ".skeleton")))
      np.testing.assert_array_equal(ex["keypoint"], kp)
      assert ex["label"] == ids["action"] - 1 and ex["camera"] == ids["camera"]
      assert ex["num_frames"] == kp.shape[1]
  # The registered name resolves to the same builder and protocol.
  again = tfds.builder("ntu60/xview", data_dir=str(tmp_path / "tfds"))
  assert again.info.splits["train"].num_examples == len(expected["train"])


def test_nwucla_builder(tmp_path):
  raw = str(tmp_path / "manual")
  paths = synthetic.write_nwucla(raw, num_classes=2, samples_per_class=3, num_frames=(3, 6))
  builder = builders.Nwucla(data_dir=str(tmp_path / "tfds"))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=raw))
  test = list(tfds.as_numpy(builder.as_dataset(split="test")))
  assert len(test) == 2 and all(ex["view"] == 3 for ex in test)
  for ex in test:
    path = os.path.join(raw, ex["name"].decode() + ".json")
    assert path in paths
    np.testing.assert_array_equal(ex["keypoint"], nwucla.read_nwucla(path).skeletons[None])
