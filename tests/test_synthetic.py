"""Synthetic raw releases: genuine formats, name coverage of every split, edge cases, learnable
classes, determinism; demo data preparation and the missing-data message."""
import json
import os
import re

import numpy as np
import pytest

from actionjax.config import base_config
from data_pipelines import demo_data, errors, records, splits, synthetic
from data_pipelines.formats import ntu
from data_pipelines.preprocess import denoise


@pytest.fixture(scope="module")
def ntu_files(tmp_path_factory):
  raw = str(tmp_path_factory.mktemp("syn_ntu"))
  return synthetic.write_ntu(raw, num_classes=5, samples_per_class=24, seed=1, num_frames=(30, 50),
                             short_prob=0.05, mutual=[4])


def test_ntu_files_follow_the_genuine_layout(ntu_files):
  for path in ntu_files[:10]:
    data = open(path, "rb").read()
    assert data.count(b"\n") == data.count(b"\r\n") and data.endswith(b"\r\n")
    lines = data.decode().split("\r\n")[:-1]
    pos, frames = 1, int(lines[0])
    for _ in range(frames):  # independent walk of the layout
      bodies = int(lines[pos])
      pos += 1
      for _ in range(bodies):
        head = lines[pos].split()
        assert len(head) == 10 and re.fullmatch(r"\d{17}", head[0])
        assert lines[pos + 1] == "25"
        assert all(len(line.split()) == 12 for line in lines[pos + 2:pos + 27])
        pos += 27
    assert pos == len(lines)


def test_ntu_names_cover_every_split_and_class():
  for dataset in ("ntu60", "ntu120"):
    names = synthetic.ntu_names(num_classes=3, samples_per_class=12, dataset=dataset)
    assert len({n for n, _ in names}) == 36
    assert not {n for n, _ in names} & splits.ntu_missing_names(dataset)
    cover = {}
    for name, label in names:
      ids = splits.parse_ntu_name(name)
      assert ids["action"] == label + 1 and ids["setup"] <= splits.NTU_LIMITS[dataset]["setup"]
      for protocol, split in splits.ntu_splits(dataset, ids).items():
        cover.setdefault((protocol, split), set()).add(label)
    assert len(cover) == 4 and all(labels == {0, 1, 2} for labels in cover.values())


def test_ntu_edge_cases_are_present(ntu_files):
  zero_body = three_bodies = two_actor = short = 0
  for path in ntu_files:
    sk = ntu.read_ntu(path)
    zero_body += sk.num_frames < sk.declared_frames
    per_frame = np.bincount(np.concatenate([b.frames for b in sk.bodies]))
    three_bodies += per_frame.max() >= 3
    label = splits.parse_ntu_name(os.path.basename(path)[:-9])["action"] - 1
    kp = denoise.denoise_ntu(sk)
    two_actor += kp.shape[0] == 2
    if label == 4:
      assert len(sk.bodies) >= 2  # mutual class: two actors written
    short += sk.num_frames <= 8
  assert zero_body and three_bodies and two_actor >= 20 and short


def test_ntu_noise_bodies_are_removed_by_denoising(ntu_files):
  for path in ntu_files:
    sk = ntu.read_ntu(path)
    label = splits.parse_ntu_name(os.path.basename(path)[:-9])["action"] - 1
    if sk.num_frames > 12:
      assert denoise.denoise_ntu(sk).shape[0] == (2 if label == 4 else 1), path


def test_classes_are_learnable_by_nearest_centroid(ntu_files):
  """Rotation-invariant features (per-joint spread of the distance to the spine base) separate the
  classes of held-out samples (xsub test) well above chance."""
  feats, labels, train = [], [], []
  for path in ntu_files:
    name = os.path.basename(path)[:-9]
    ids = splits.parse_ntu_name(name)
    kp = denoise.denoise_ntu(ntu.read_ntu(path))[0]
    if kp.shape[0] < 10:
      continue
    dist = np.linalg.norm(kp - kp[:, :1], axis=-1)  # (T, 25)
    feats.append(np.concatenate([dist.std(0), np.abs(np.diff(dist, axis=0)).mean(0)]))
    labels.append(ids["action"] - 1)
    train.append(splits.ntu_splits("ntu60", ids)["xsub"] == "train")
  feats, labels, train = np.array(feats), np.array(labels), np.array(train)
  centroids = np.stack([feats[train & (labels == c)].mean(0) for c in range(5)])
  pred = np.argmin(((feats[~train, None] - centroids) ** 2).sum(-1), axis=1)
  assert (pred == labels[~train]).mean() > 0.5  # chance: 0.2


def test_generation_is_deterministic(tmp_path):
  a = synthetic.write_ntu(str(tmp_path / "a"), num_classes=2, samples_per_class=3, seed=4,
                          num_frames=(10, 20))
  b = synthetic.write_ntu(str(tmp_path / "b"), num_classes=2, samples_per_class=3, seed=4,
                          num_frames=(10, 20))
  assert [open(p, "rb").read() for p in a] == [open(p, "rb").read() for p in b]


def test_nwucla_and_kinetics_files(tmp_path):
  paths = synthetic.write_nwucla(str(tmp_path / "u"), num_classes=10, samples_per_class=3,
                                 num_frames=(4, 8))
  names = [os.path.basename(p)[:-5] for p in paths]
  assert {splits.parse_nwucla_name(n)["action"] for n in names} == set(splits.NWUCLA_ACTIONS)
  content = json.load(open(paths[0]))
  assert content["file_name"] == names[0] and np.array(content["skeletons"]).shape[1:] == (20, 3)
  raw = str(tmp_path / "k")
  clips = synthetic.write_kinetics(raw, num_classes=2, samples_per_class=8, no_skeleton_prob=0.2)
  for release in ("train", "val"):
    labels = json.load(open(os.path.join(raw, f"kinetics_{release}_label.json")))
    assert len(labels) == len(os.listdir(os.path.join(raw, f"kinetics_{release}")))
  clip = json.load(open(clips[0]))
  frames = [f["frame_index"] for f in clip["data"]]
  assert not frames or frames[0] == 1  # 1-based
  for f in clip["data"]:
    for person in f["skeleton"]:
      assert len(person["pose"]) == 36 and len(person["score"]) == 18


def test_missing_data_message():
  config = base_config()
  config.data.update(dataset="ntu60", protocol="xsub", dir="/data/ntu")
  assert errors.missing_data_message(config) == (
      "no prepared records for ntu60/xsub under /data/ntu; run: actionjax prepare ntu60"
      " --raw_dir <NTU skeletons folder> --out_dir /data/ntu")
  config.data.update(dataset="nwucla", protocol="")
  assert errors.missing_data_message(config).startswith("no prepared records for nwucla under")
  assert issubclass(errors.FormatError, errors.DataError)


def test_ensure_data_generates_once_and_prepares(tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("ACTIONJAX_CACHE", str(tmp_path / "cache"))
  config = base_config()
  config.model.num_classes = 3
  config.data.update(synthetic="nwucla", dataset="nwucla", dir=str(tmp_path / "records"))
  demo_data.ensure_data(config, samples_per_class=6, progress=False)
  info = records.read_info(config.data.dir)
  assert info["protocols"][""] == {"train": 12, "test": 6}
  assert "generating" in capsys.readouterr().out
  assert len(os.listdir(tmp_path / "cache" / "synthetic")) == 1
  demo_data.ensure_data(config, samples_per_class=6, progress=False)  # prepared: nothing to do
  assert capsys.readouterr().out == ""
  os.remove(os.path.join(config.data.dir, records.INFO_FILE))
  demo_data.ensure_data(config, samples_per_class=6, progress=False)
  assert "reusing" in capsys.readouterr().out
  config.data.synthetic = ""
  demo_data.ensure_data(config)  # real data: untouched
  config.data.update(synthetic="ntu60", dir="")
  with pytest.raises(errors.DataError, match="data.dir"):
    demo_data.ensure_data(config)
