"""benchmarks/video_convert.py and benchmarks/video_input.py at a tiny size: they run end to end,
write their JSON, and the PyTorch frame-folder reader yields the clips actionjax's pipeline does
(shape, dtype)."""
import json
import os

import numpy as np


def _benchmarks(monkeypatch):
  monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "..", "benchmarks"))


def test_video_convert_tiny(tmp_path, monkeypatch):
  _benchmarks(monkeypatch)
  import video_convert
  out = tmp_path / "video_convert.json"
  result = video_convert.main(["--clips", "2", "--size", "64x96", "--frames", "8,10",
                               "--workers", "1", "--short_side", "64", "--out", str(out),
                               "--tmp", str(tmp_path)])
  assert json.loads(out.read_text()) == json.loads(json.dumps(result))
  assert result["videos"] == 2 and result["rgb_frames"] >= 16
  runs = {(r["modalities"], r["crop"]): r for r in result["runs"]}
  assert set(runs) == {("rgb", "person"), ("rgb,depth", "person"), ("rgb", "none")}
  for r in runs.values():
    assert r["rejected"] == 0 and r["videos_per_s"] > 0 and r["rgb_frames_per_s"] > 0
    assert r["ntu60_rgb_projected_hours_here"] > 0 and r["ntu60_rgb_projected_core_hours"] > 0
  assert runs["rgb,depth", "person"]["depth_frames_per_s"] > 0
  for key in ("records_rgb_person_crop", "records_rgb_depth_person_crop", "records_rgb_full_frame"):
    assert result[key]["kib_per_frame"] > 0
    assert result[key]["copies_per_sample"] == 2.0  # xsub and xview each hold every sample
  assert result["records_rgb_person_crop"]["frame_size_hw"] == [64, 64]
  assert result["records_rgb_full_frame"]["frame_size_hw"] == [64, 96]
  folders = result["frame_folders"]
  assert folders["full"]["frame_size_hw"] == [64, 96] and folders["full"]["files"] == result["rgb_frames"]
  assert folders["short"]["frame_size_hw"] == [64, 96]  # ffmpeg -vf scale=-2:64
  assert set(result["bytes_ratio_folder_vs_records"]) == {
      "full_size_q95_vs_records_person_crop", "short_side_q95_vs_records_person_crop",
      "full_size_q95_vs_records_full_frame", "short_side_q95_vs_records_full_frame"}
  assert not list(tmp_path.glob("video_convert_*"))  # scratch removed


def test_video_input_tiny(tmp_path, monkeypatch):
  _benchmarks(monkeypatch)
  import video_input
  out = tmp_path / "video_input.json"
  result = video_input.main(["--clips", "2", "--source_size", "64x96", "--frames", "10,12",
                             "--short_side", "64", "--shapes", "4x32", "--batch", "2",
                             "--batches", "2", "--warmup", "1", "--rounds", "1", "--no_step", "--profile",
                             "--out", str(out), "--tmp", str(tmp_path)])
  assert json.loads(out.read_text()) == json.loads(json.dumps(result))
  assert result["clips"] == 2 and result["stored_frame_hw"] == [64, 96]
  (run,) = result["runs"]
  assert set(run["clips_per_s"]) == {"actionjax_tfdata", "torch_dataloader"}
  assert set(run["cpu_ms_per_clip"]) == set(run["clips_per_s"])
  assert all(v > 0 for v in run["clips_per_s"].values()) and run["ratio_actionjax_vs_torch"] > 0
  assert all(v > 0 for v in run["cpu_ms_per_clip"].values()) and run["cpu_ratio_torch_vs_actionjax"] > 0
  ours, theirs = run["batches"]["actionjax_tfdata"], run["batches"]["torch_dataloader"]
  assert ours == theirs == {"shape": [2, 4, 32, 32, 3], "dtype": "uint8"}
  assert "load_during_run" in result and "train_step_tiny_video" not in result
  (stages,) = result["stage_costs"]
  assert {"decode", "crop_resize", "decode_and_crop", "resize_bilinear", "pil_list_open_decode",
          "sum_current", "sum_proposed", "sum_pil"} <= set(stages["cpu_ms_per_clip"])


def test_torch_reader_matches_actionjax_clips(tmp_path, monkeypatch):
  """Both readers on the same frames: same batch shape and dtype; with the crop forced to the
  whole frame and no flip, the torch reader's pixels equal the decoded JPEGs resized by PIL."""
  _benchmarks(monkeypatch)
  import video_input
  from PIL import Image
  from tiny_video_data import rgb_frames, write_records
  frames = rgb_frames(12, 48, 64)
  write_records(str(tmp_path / "rec"), [(f"c{i}", i, frames, None) for i in range(2)],
                num_shards=1, modalities=("rgb",))
  folder = tmp_path / "frames" / "c0"
  folder.mkdir(parents=True)
  for i, f in enumerate(frames):
    Image.fromarray(f).save(folder / f"img_{i + 1:05d}.jpg", quality=95)
  loader = video_input.torch_loader([str(folder)] * 2, [0, 1], 4, 32, batch=2, workers=0)
  clips, labels = next(iter(loader))
  config = video_input.actionjax_config(str(tmp_path / "rec"), "", 4, 32)
  pipe = video_input.actionjax_pipeline(config, "train", batch=2, seed=0, threads=2)
  batch = next(pipe)["inputs"]
  assert tuple(clips.shape) == batch.shape == (2, 4, 32, 32, 3)
  assert clips.numpy().dtype == batch.dtype == np.uint8
  ds = video_input.FrameFolderClips([str(folder)], [0], 4, 32, scales=(1.0,), max_distort=0,
                                    flip=False)
  x, _ = ds[0]
  # Frame k of segment sampling carries B = 10 * index: the sampled frames come from the right
  # segments (12 frames, 4 segments of 3).
  index = np.round(x.numpy()[:, 16, 16, 2] / 10).astype(int)
  assert all(3 * k <= i < 3 * k + 3 for k, i in enumerate(index))
