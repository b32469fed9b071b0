"""`actionjax prepare` on genuine-format synthetic video: every edge case reaches rejected.jsonl or
notes.jsonl, records equal the readers' frames, 1 and 2 workers give byte-identical shards,
NTU splits follow the skeleton protocols, IsoGD and user lists through the command line."""
import argparse
import glob
import hashlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import prepare, records, splits, synthetic_video, video_records
from data_pipelines.formats import video


def run_cli(*argv):
  parser = argparse.ArgumentParser()
  prepare.add_arguments(parser)
  return prepare.run(parser.parse_args([*argv, "--quiet"]))


def read_split(out_dir, protocol, split):
  out = []
  for path in records.split_files(out_dir, protocol, split):
    out += [video_records.parse_numpy(r.numpy()) for r in tf.data.TFRecordDataset(path)]
  return out


def jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def shard_digests(out_dir):
  return {os.path.relpath(p, out_dir): hashlib.sha256(open(p, "rb").read()).hexdigest()
          for p in sorted(glob.glob(os.path.join(out_dir, "**", "*.tfrecord"), recursive=True))}


@pytest.fixture(scope="module")
def ntu(tmp_path_factory):
  raw = str(tmp_path_factory.mktemp("ntu_video_raw"))
  meta = synthetic_video.write_ntu_video(raw, num_classes=3, samples_per_class=6, seed=1,
                                         num_frames=(10, 16), size=(60, 80), edge_cases=True)
  out = str(tmp_path_factory.mktemp("ntu_video_out"))
  code = run_cli("ntu60_video", "--raw_dir", raw, "--out_dir", out, "--short_side", "40",
                 "--skeleton_dir", os.path.join(raw, "nturgb+d_skeletons"), "--shard_size", "4",
                 "--max_reject", "0.5")
  assert code == 0
  return raw, out, meta


def test_ntu_edge_cases_are_recorded_not_dropped(ntu):
  raw, out, meta = ntu
  edge = meta["edge"]
  rejected = {r["file"]: r["reason"] for r in jsonl(os.path.join(out, records.REJECTED_FILE))}
  by_name = {f.split("/")[-1].split("_rgb")[0]: reason for f, reason in rejected.items()}
  assert "truncated" in by_name[edge["truncated"]]
  assert "decoder" in by_name[edge["decoder_error"]]
  assert "no decodable frame" in by_name[edge["zero_frames"]]
  assert "depth folder missing" in by_name[edge["missing_depth"]]
  notes = jsonl(os.path.join(out, prepare.NOTES_FILE))
  noted = {n["file"].split("/")[-1].split("_rgb")[0] for n in notes}
  assert edge["depth_count"] in noted and edge["depth_8bit"] in noted
  info = records.read_info(out)
  converted = sum(info["protocols"]["xsub"].values())
  assert converted + info["rejected"] == len(meta["names"])  # every input accounted for
  assert info["modalities"] == ["rgb", "depth"] and info["depth_max"] == 4500.0
  names = {r["name"] for s in ("train", "test") for r in read_split(out, "xsub", s)}
  assert edge["zero_based"] in names and edge["no_skeleton"] in names


def test_ntu_records_equal_the_readers_frames_and_follow_the_protocols(ntu):
  raw, out, meta = ntu
  labels = dict(meta["names"])
  from data_pipelines.formats import ntu_video
  for protocol in ("xsub", "xview"):
    for split in ("train", "test"):
      for rec in read_split(out, protocol, split):
        ids = splits.parse_ntu_name(rec["name"])
        assert splits.ntu_splits("ntu60", ids)[protocol] == split
        assert rec["label"] == ids["action"] - 1 == labels[rec["name"]]
        assert rec["modality"] == "rgb,depth" and min(rec["rgb/height"], rec["rgb/width"]) == 40
        assert len(rec["rgb/encoded"]) == rec["rgb/num_frames"]
        if protocol == "xsub" and split == "train":
          # The reader, run again here, gives the stored bytes.
          conv = ntu_video.convert(
              os.path.join(raw, "nturgb+d_rgb", rec["name"] + "_rgb.avi"),
              os.path.join(raw, "nturgb+d_depth_masked", rec["name"]),
              os.path.join(raw, "nturgb+d_skeletons", rec["name"] + ".skeleton"),
              modalities=("rgb", "depth"), crop="person", short_side=40, quality=90,
              depth_format="png")
          assert conv.rgb.frames == rec["rgb/encoded"] and conv.depth.frames == rec["depth/encoded"]
          assert rec["crop"] == conv.crop and list(rec["crop_box"]) == list(conv.crop_box)


def test_depth_round_trip_is_exact_and_rgb_within_jpeg_tolerance(ntu, tmp_path):
  """Whole frames at source size: stored depth decodes to the raw PNGs' values exactly; stored RGB
  decodes (as the pipeline does) within JPEG q95 tolerance of the decoded video."""
  raw, _, meta = ntu
  out = str(tmp_path)
  summary = prepare.prepare("ntu60_video", raw, out, progress=False, short_side=-1, crop="none",
                            jpeg_quality=95, max_reject=0.5)
  assert summary["ok"]
  rec = read_split(out, "xsub", "train")[0]
  name = rec["name"]
  pngs = sorted(glob.glob(os.path.join(raw, "nturgb+d_depth_masked", name, "*.png")))
  for f, path in zip(rec["depth/encoded"], pngs):
    np.testing.assert_array_equal(tf.io.decode_png(f, dtype=tf.uint16).numpy()[..., 0],
                                  video.read_image(path))
  frames = list(video.decode_video(os.path.join(raw, "nturgb+d_rgb", name + "_rgb.avi")))
  assert len(frames) == len(rec["rgb/encoded"])
  for f, frame in zip(rec["rgb/encoded"], frames):
    got = tf.io.decode_jpeg(f, dct_method="INTEGER_ACCURATE").numpy().astype(float)
    err = got - frame
    psnr = 10 * np.log10(255 ** 2 / np.mean(err ** 2))
    # The documented JPEG tolerance (docs/video_data.md): single pixels on sharp colour edges
    # move more (4:2:0 chroma subsampling), the frame as a whole stays close.
    assert np.abs(err).mean() < 2.0 and psnr > 35.0, (np.abs(err).mean(), psnr)


def test_one_and_two_workers_give_identical_shards(ntu, tmp_path):
  raw, out, _ = ntu
  two = str(tmp_path / "two")
  code = run_cli("ntu60_video", "--raw_dir", raw, "--out_dir", two, "--short_side", "40",
                 "--skeleton_dir", os.path.join(raw, "nturgb+d_skeletons"), "--shard_size", "4",
                 "--max_reject", "0.5", "--workers", "2")
  assert code == 0
  assert shard_digests(out) == shard_digests(two) and len(shard_digests(out)) > 2
  assert open(os.path.join(out, records.REJECTED_FILE)).read() == \
      open(os.path.join(two, records.REJECTED_FILE)).read()


def test_too_many_rejects_exit_non_zero(ntu, tmp_path):
  raw, _, _ = ntu
  assert run_cli("ntu60_video", "--raw_dir", raw, "--out_dir", str(tmp_path), "--modalities",
                 "rgb", "--short_side", "32") == 1  # default --max_reject 1% < this tree's rejects
  assert run_cli("ntu60_video", "--raw_dir", raw, "--out_dir", str(tmp_path), "--modalities",
                 "infrared") == 2


def test_isogd_through_the_command_line(tmp_path):
  raw = str(tmp_path / "raw")
  meta = synthetic_video.write_isogd(raw, num_classes=3, samples_per_class=5, seed=2,
                                     num_frames=(8, 12), size=(48, 64), unlabelled_valid=True)
  out = str(tmp_path / "out")
  assert run_cli("isogd", "--raw_dir", raw, "--out_dir", out, "--max_reject", "0.2") == 0
  info = records.read_info(out)
  for split in ("train", "valid", "test"):
    recs = read_split(out, "", split)
    assert len(recs) == info["protocols"][""][split] == len(meta["entries"][split])
    assert all(r["modality"] == "rgb,depth" and r["depth/bits"] == 8 for r in recs)
  assert {r["label"] for r in read_split(out, "", "valid")} == {-1}
  assert info["unlabelled"] == {"valid": len(meta["entries"]["valid"])}
  assert info["depth_max"] == 255.0 and info["num_classes"] == 249
  rejected = jsonl(os.path.join(out, records.REJECTED_FILE))
  list_path, line = meta["missing_line"]
  assert rejected == [{"file": f"{os.path.basename(list_path)}:{line}",
                       "reason": "train/999/M_99999.avi not found"}]


def test_video_list_through_the_command_line(tmp_path):
  raw = str(tmp_path / "raw")
  meta = synthetic_video.write_video_list(raw, num_classes=3, samples_per_class=4, seed=3,
                                          num_frames=(8, 12), size=(48, 64))
  out = str(tmp_path / "out")
  lists = meta["lists"]
  code = run_cli("video_list", "--rgb_root", os.path.join(raw, "rawframes"), "--depth_root",
                 os.path.join(raw, "depth"), "--list_file", f"train={lists['rawframes_train']}",
                 "--list_file", f"test={lists['rawframes_val']}", "--out_dir", out,
                 "--max_reject", "0.3")
  assert code == 0
  info = records.read_info(out)
  train = read_split(out, "", "train")
  assert len(train) == info["protocols"][""]["train"] == len(meta["entries"]["rawframes_train"])
  assert {r["name"] for r in train} == {n for n, _ in meta["entries"]["rawframes_train"]}
  assert info["depth_bits"] == [16] and "depth_max" not in info  # unknown unit: the user says
  notes = jsonl(os.path.join(out, prepare.NOTES_FILE))
  assert any(meta["wrong_count"] in n["file"] and "frames" in n["note"] for n in notes)
  assert len(jsonl(os.path.join(out, records.REJECTED_FILE))) == 2  # one missing line per list
  out2 = str(tmp_path / "out2")
  assert run_cli("video_list", "--rgb_root", os.path.join(raw, "videos"), "--modalities", "rgb",
                 "--list_file", f"train={lists['videos_train']}", "--out_dir", out2,
                 "--max_reject", "0.3") == 0
  assert read_split(out2, "", "train")[0]["rgb/encoding"] == "jpeg"
