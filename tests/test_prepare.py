"""`prepare` end to end on synthetic raw releases: round trip, determinism, bad inputs, reports."""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import prepare, records, splits, synthetic
from data_pipelines.formats import kinetics, ntu, nwucla
from data_pipelines.preprocess import denoise


def read_split(out_dir, protocol, split):
  out = []
  for path in records.split_files(out_dir, protocol, split):
    out += [records.parse_numpy(r.numpy()) for r in tf.data.TFRecordDataset(path)]
  return out


def rejected_lines(out_dir):
  with open(os.path.join(out_dir, records.REJECTED_FILE)) as f:
    return [json.loads(line) for line in f]


def run_cli(*argv):
  parser = argparse.ArgumentParser()
  prepare.add_arguments(parser)
  return prepare.run(parser.parse_args([*argv, "--quiet"]))


@pytest.fixture(scope="module")
def ntu_raw(tmp_path_factory):
  raw = str(tmp_path_factory.mktemp("ntu_raw"))
  synthetic.write_ntu(raw, num_classes=4, samples_per_class=12, seed=3, num_frames=(14, 30),
                      short_prob=0.1)
  return raw


@pytest.fixture(scope="module")
def ntu_out(ntu_raw, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("ntu_out"))
  assert run_cli("ntu60", "--raw_dir", ntu_raw, "--out_dir", out, "--shard_size", "10") == 0
  return out


def test_ntu_round_trip_equals_reader_and_denoiser(ntu_raw, ntu_out):
  info = records.read_info(ntu_out)
  names = sorted(f[:-9] for f in os.listdir(ntu_raw))
  for protocol in ("xsub", "xview"):
    seen = []
    for split in ("train", "test"):
      recs = read_split(ntu_out, protocol, split)
      assert info["protocols"][protocol][split] == len(recs) > 0
      assert len(records.split_files(ntu_out, protocol, split)) == -(-len(recs) // 10)
      for rec in recs:
        ids = splits.parse_ntu_name(rec["name"])
        assert splits.ntu_splits("ntu60", ids)[protocol] == split
        expected = denoise.denoise_ntu(ntu.read_ntu(os.path.join(ntu_raw, rec["name"] + ".skeleton")))
        assert rec["keypoint"].dtype == np.float32
        np.testing.assert_array_equal(rec["keypoint"], expected)
        assert rec["label"] == ids["action"] - 1 and rec["num_frames"] == expected.shape[1]
        assert all(rec[k] == ids[k] for k in ("setup", "camera", "performer", "replication"))
      assert {r["label"] for r in recs} == set(range(4))  # every class in every split
      seen += [r["name"] for r in recs]
    assert sorted(seen) == names
  assert info["num_classes"] == 60 and info["class_names"][:2] == ["drink water", "eat meal/snack"]
  assert info["num_joints"] == 25 and info["channels"] == 3 and info["max_persons"] == 2
  assert info["coord_dims"] == 3 and info["preprocessing_version"] == "ctrgcn-denoise-1"
  assert info["bone_pairs"][1] == [2, 21] and info["rejected"] == 0
  present = set(names)
  assert info["absent"] == sum(n not in present for n in splits.ntu_available_names("ntu60"))


def test_ntu_synthetic_edge_cases_reach_the_records(ntu_out):
  recs = read_split(ntu_out, "xsub", "train") + read_split(ntu_out, "xsub", "test")
  persons = {r["keypoint"].shape[0] for r in recs}
  assert persons == {1, 2}
  assert min(r["num_frames"] for r in recs) < 10  # very short clips survive


def test_workers_give_byte_identical_shards(ntu_raw, ntu_out, tmp_path):
  out2 = str(tmp_path / "two")
  assert run_cli("ntu60", "--raw_dir", ntu_raw, "--out_dir", out2, "--shard_size", "10",
                 "--workers", "2") == 0
  files1 = sorted(os.path.relpath(os.path.join(d, f), ntu_out)
                  for d, _, fs in os.walk(ntu_out) for f in fs)
  files2 = sorted(os.path.relpath(os.path.join(d, f), out2) for d, _, fs in os.walk(out2) for f in fs)
  assert files1 == files2 and len(files1) > 6
  for rel in files1:
    with open(os.path.join(ntu_out, rel), "rb") as a, open(os.path.join(out2, rel), "rb") as b:
      assert a.read() == b.read(), rel


def write_bad_ntu_files(raw):
  good = open(os.path.join(raw, sorted(os.listdir(raw))[0]), newline="").read()
  lines = good.split("\r\n")
  j = next(i for i, line in enumerate(lines) if len(line.split()) == 12)  # first joint line

  def first_field(value):
    return "\r\n".join(lines[:j] + [value + lines[j][lines[j].index(" "):]] + lines[j + 1:])

  bad = {
      "S001C001P001R002A003": good[: len(good) // 2],  # truncated
      "S001C001P002R002A003": good.replace("\r\n25\r\n", "\r\n24\r\n", 1),  # wrong joint count
      "S001C001P003R002A003": first_field("abc"),  # non-numeric field
      "S001C001P004R002A003": "",  # empty file
      "S001C001P005R002A003": first_field("nan"),
      "S001C001P006R002A003": first_field("inf"),
      "S001C001P001R002A000": good,  # unknown action id
      "S001C001P001R002A121": good,  # unknown action id
      "S01C001P001R002A003": good,  # malformed name
  }
  for name, text in bad.items():
    assert not os.path.exists(os.path.join(raw, name + ".skeleton"))
    with open(os.path.join(raw, name + ".skeleton"), "w", newline="") as f:
      f.write(text)
  return bad


def test_bad_inputs_are_rejected_with_reasons(ntu_raw, tmp_path, capsys):
  raw, out = str(tmp_path / "raw"), str(tmp_path / "out")
  shutil.copytree(ntu_raw, raw)
  bad = write_bad_ntu_files(raw)
  missing = sorted(splits.ntu_missing_names("ntu60"))[0]  # excluded by the protocol: skipped
  shutil.copy(os.path.join(raw, sorted(os.listdir(raw))[0]), os.path.join(raw, missing + ".skeleton"))
  n_good = 48
  assert run_cli("ntu60", "--raw_dir", raw, "--out_dir", out) == 1  # 9 / 57 > 1 %
  printed = capsys.readouterr()
  assert "rejected 9" in printed.out and "exceeds --max_reject" in printed.err
  lines = rejected_lines(out)
  reasons = {line["file"][:-9]: line["reason"] for line in lines if not line.get("skipped")}
  assert set(reasons) == set(bad)
  expect = {"S001C001P001R002A003": "truncated", "S001C001P002R002A003": "joint count",
            "S001C001P003R002A003": "non-numeric", "S001C001P004R002A003": "empty",
            "S001C001P005R002A003": "non-finite", "S001C001P006R002A003": "non-finite",
            "S001C001P001R002A000": "unknown action id", "S001C001P001R002A121": "unknown action id",
            "S01C001P001R002A003": "file name"}
  for name, word in expect.items():
    assert word in reasons[name], (name, reasons[name])
  skipped = [line for line in lines if line.get("skipped")]
  assert [s["file"] for s in skipped] == [missing + ".skeleton"]
  info = records.read_info(out)
  assert sum(info["protocols"]["xsub"].values()) == n_good
  assert info["rejected"] == 9 and info["skipped"] == 1
  # The same folder passes with a looser threshold; the output is rewritten, not appended.
  assert run_cli("ntu60", "--raw_dir", raw, "--out_dir", out, "--max_reject", "0.2") == 0
  assert len(rejected_lines(out)) == 10


def test_rerun_replaces_stale_shards(ntu_raw, tmp_path):
  out = str(tmp_path / "out")
  assert run_cli("ntu60", "--raw_dir", ntu_raw, "--out_dir", out, "--shard_size", "5") == 0
  assert run_cli("ntu60", "--raw_dir", ntu_raw, "--out_dir", out, "--shard_size", "100") == 0
  assert [os.path.basename(p) for p in records.split_files(out, "xsub", "train")] == [
      "train-00000-of-00001.tfrecord"]


def test_ntu120_folder_converted_as_ntu60_skips_ntu120_samples(tmp_path):
  raw, out = str(tmp_path / "raw"), str(tmp_path / "out")
  synthetic.write_ntu(raw, num_classes=1, samples_per_class=2, num_frames=(15, 20), dataset="ntu120",
                      edge_cases=False)
  text = open(sorted(os.path.join(raw, f) for f in os.listdir(raw))[0], newline="").read()
  for name in ("S018C001P001R001A001", "S001C001P001R001A061"):
    with open(os.path.join(raw, name + ".skeleton"), "w", newline="") as f:
      f.write(text)
  assert run_cli("ntu60", "--raw_dir", raw, "--out_dir", out) == 0
  skipped = [line for line in rejected_lines(out) if line.get("skipped")]
  assert len(skipped) == 2 and all("not part of ntu60" in s["reason"] for s in skipped)
  assert run_cli("ntu120", "--raw_dir", raw, "--out_dir", out) == 0
  info = records.read_info(out)
  assert sum(info["protocols"]["xset"].values()) == 4 and info["num_classes"] == 120


def test_nwucla_prepare(tmp_path):
  raw, out = str(tmp_path / "raw"), str(tmp_path / "out")
  paths = synthetic.write_nwucla(raw, num_classes=3, samples_per_class=6, num_frames=(5, 12))
  content = json.load(open(paths[0]))
  content["label"] = 2  # disagrees with its action a01
  json.dump(content, open(os.path.join(raw, "a01_s09_e09_v01.json"), "w"))
  json.dump(content, open(os.path.join(raw, "a07_s01_e00_v01.json"), "w"))  # a07 is not a class
  assert run_cli("nwucla", "--raw_dir", raw, "--out_dir", out, "--max_reject", "0.2") == 0
  info = records.read_info(out)
  train, test = read_split(out, "", "train"), read_split(out, "", "test")
  assert info["protocols"] == {"": {"train": len(train), "test": len(test)}}
  assert len(train) == 12 and len(test) == 6
  assert {r["view"] for r in train} == {1, 2} and {r["view"] for r in test} == {3}
  for rec in train + test:
    raw_sample = nwucla.read_nwucla(os.path.join(raw, rec["name"] + ".json"))
    np.testing.assert_array_equal(rec["keypoint"], raw_sample.skeletons[None])
    assert rec["label"] == raw_sample.label - 1
  reasons = {line["file"]: line["reason"] for line in rejected_lines(out)}
  assert "disagrees" in reasons["a01_s09_e09_v01.json"]
  assert "unknown action id" in reasons["a07_s01_e00_v01.json"]
  assert info["class_names"][0] == "pick up with one hand" and info["num_joints"] == 20
  assert info["absent"] == 1484 - 20


def test_kinetics_prepare(tmp_path):
  raw, out = str(tmp_path / "raw"), str(tmp_path / "out")
  synthetic.write_kinetics(raw, num_classes=3, samples_per_class=8, num_frames=(5, 20),
                           no_skeleton_prob=0.0)
  labels = json.load(open(os.path.join(raw, "kinetics_train_label.json")))
  clip = sorted(labels)[0]
  labels[clip]["has_skeleton"] = False  # listed without skeleton: skipped and reported
  labels["zzzzabsent00"] = {"has_skeleton": True, "label": "x", "label_index": 0}  # no file
  json.dump(labels, open(os.path.join(raw, "kinetics_train_label.json"), "w"))
  shutil.copy(os.path.join(raw, "kinetics_train", clip + ".json"),
              os.path.join(raw, "kinetics_train", "notlisted000.json"))
  assert run_cli("kinetics_skeleton", "--raw_dir", raw, "--out_dir", out, "--max_reject", "0.1") == 0
  info = records.read_info(out)
  train, test = read_split(out, "", "train"), read_split(out, "", "test")
  assert (len(train), len(test)) == (17, 6)  # 18 train clips, one without skeleton; val -> test
  assert info["protocols"] == {"": {"train": 17, "test": 6}} and info["absent"] == 1
  assert info["class_names"] == [f"synthetic action {i}" for i in range(3)]
  assert info["num_joints"] == 18 and len(info["bone_pairs"]) == 18 and info["coord_dims"] == 2
  lines = {line["file"]: line for line in rejected_lines(out)}
  assert lines[f"kinetics_train/{clip}.json"]["skipped"] and "no skeleton" in lines[
      f"kinetics_train/{clip}.json"]["reason"]
  assert "not listed" in lines["kinetics_train/notlisted000.json"]["reason"]
  for release, recs in (("train", train), ("val", test)):
    for rec in recs:
      check_kinetics_record(raw, release, rec)


def check_kinetics_record(raw, release, rec):
  raw_clip = kinetics.read_kinetics(os.path.join(raw, f"kinetics_{release}", rec["name"] + ".json"))
  np.testing.assert_array_equal(rec["keypoint"], denoise.select_top_persons(raw_clip.data))
  assert rec["label"] == raw_clip.label_index


def test_missing_raw_dir_and_module_entry_point(tmp_path, capsys):
  assert run_cli("ntu60", "--raw_dir", str(tmp_path / "nope"), "--out_dir", str(tmp_path)) == 2
  assert "does not exist" in capsys.readouterr().err
  assert run_cli("ntu60", "--raw_dir", str(tmp_path), "--out_dir", str(tmp_path / "o")) == 2
  result = subprocess.run([sys.executable, "-m", "data_pipelines.prepare", "--help"],
                          capture_output=True, text=True, check=True)
  assert "--max_reject" in result.stdout and "--workers" in result.stdout
