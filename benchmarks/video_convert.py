"""Conversion rate of `actionjax prepare ntu60_video` on synthetic 1080p H.264 NTU-format clips
(~100 frames each), RGB only and RGB + masked depth, with 1 and 2 workers in the same run, the
projected time for NTU-60 RGB, and the stored bytes per frame of the records against extracted
JPEG frame folders of the same clips (full 1080p and short side 256, quality 95: what public
toolboxes extract with ffmpeg).

    python benchmarks/video_convert.py [--clips 12] [--frames 90,110] [--workers 1,2]

Prints one JSON document and writes benchmarks/results/video_convert.json.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time

import av
import numpy as np
from PIL import Image

from data_pipelines import prepare, records, synthetic_video

NTU60_VIDEOS = 56_880  # RGB videos of NTU RGB+D 60
NTU60_FRAMES = 4_800_000  # their frames (mean 84.5 per video)


def _cpu_seconds() -> float:
  """User + system CPU of this process and its finished children (the worker pool)."""
  own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def write_result(result: dict, out: str) -> None:
  """Prints the result and writes it as JSON to `out`."""
  print(json.dumps(result, indent=1))
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, "w") as f:
    json.dump(result, f, indent=1)


class LoadSampler:
  """Samples the 1-minute load average every `every` seconds in a thread (what else ran)."""

  def __init__(self, every: float = 5.0):
    self.samples = [os.getloadavg()[0]]
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
    self._thread.start()

  def _run(self, every: float) -> None:
    while not self._stop.wait(every):
      self.samples.append(os.getloadavg()[0])

  def summary(self) -> dict:
    self._stop.set()
    s = self.samples + [os.getloadavg()[0]]
    return {"load_avg_1min_min": round(min(s), 2), "load_avg_1min_median": round(float(np.median(s)), 2),
            "load_avg_1min_max": round(max(s), 2)}


def _pair(text: str, sep: str) -> tuple[int, int]:
  a, b = text.lower().split(sep)
  return int(a), int(b)


def _bytes(paths) -> tuple[int, int]:
  """(apparent bytes, allocated bytes on disk) of files."""
  apparent = allocated = 0
  for p in paths:
    st = os.stat(p)
    apparent += st.st_size
    allocated += st.st_blocks * 512
  return apparent, allocated


def ffmpeg_short_width(h: int, w: int, short: int) -> tuple[int, int]:
  """(h, w) that `ffmpeg -vf scale=-2:<short>` gives a landscape (h, w) frame: the width rounded
  to the nearest multiple of 2 (1920x1080 -> 456x256)."""
  if h <= w:
    return short, 2 * max(1, int(np.floor(w * short / (2 * h) + 0.5)))
  return 2 * max(1, int(np.floor(h * short / (2 * w) + 0.5))), short


def extract_folders(videos: list[str], out_dir: str, *, short_side: int, quality: int) -> dict:
  """Frame folders as toolboxes extract them (`ffmpeg -i x.avi [-vf scale=-2:256] img_%05d.jpg`),
  done with PyAV + PIL: `full/<name>/img_00001.jpg` at the source size and `short/<name>/...` at
  short side `short_side` (swscale bicubic, FFmpeg's default scaler). Returns sizes and rates."""
  out = {}
  for kind in ("full", "short"):
    files, frames = [], 0
    t0 = time.perf_counter()
    for path in videos:
      name = os.path.basename(path)[:-len("_rgb.avi")]
      folder = os.path.join(out_dir, kind, name)
      os.makedirs(folder, exist_ok=True)
      with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
          if kind == "full":
            array = frame.to_ndarray(format="rgb24")
          else:
            h, w = ffmpeg_short_width(frame.height, frame.width, short_side)
            array = frame.reformat(width=w, height=h, format="rgb24",
                                   interpolation="BICUBIC").to_ndarray()
          f = os.path.join(folder, f"img_{i + 1:05d}.jpg")
          Image.fromarray(array).save(f, quality=quality)
          files.append(f)
          frames += 1
    seconds = time.perf_counter() - t0
    apparent, allocated = _bytes(files)
    out[kind] = {"frame_size_hw": list(array.shape[:2]), "quality": quality, "files": len(files),
                 "kib_per_frame": round(apparent / frames / 1024, 2),
                 "kib_per_frame_on_disk": round(allocated / frames / 1024, 2),
                 "extract_frames_per_s_pyav_pil": round(frames / seconds, 1),
                 "ntu60_rgb_projected_gib": round(apparent / frames * NTU60_FRAMES / 2**30, 1),
                 "ntu60_rgb_projected_files": NTU60_FRAMES}
  return out


def record_stats(out_dir: str, frames: int) -> dict:
  """Bytes of the prepared records: per frame counts one copy of each sample (protocol `xsub`:
  train + test); the dataset folder stores every sample once per protocol (xsub and xview)."""
  one = glob.glob(os.path.join(out_dir, "xsub", "*"))
  every = [p for p in glob.glob(os.path.join(out_dir, "*", "*")) if os.path.isfile(p)]
  apparent, allocated = _bytes(one)
  total, _ = _bytes(every)
  with open(os.path.join(out_dir, records.INFO_FILE)) as f:
    info = json.load(f)
  return {"kib_per_frame": round(apparent / frames / 1024, 2),
          "kib_per_frame_on_disk": round(allocated / frames / 1024, 2),
          "files_one_protocol": len(one), "bytes_all_protocols": total,
          "copies_per_sample": round(total / max(apparent, 1), 2),
          "ntu60_rgb_projected_gib_one_protocol": round(apparent / frames * NTU60_FRAMES / 2**30, 1),
          "protocols": info["protocols"]}


def frame_size_of_records(out_dir: str, modality: str = "rgb") -> list[int]:
  """(h, w) stored for the first record of xsub (person crops vary in size only when clipped)."""
  tf = records._tf()
  path = sorted(glob.glob(os.path.join(out_dir, "xsub", "*")))[0]
  raw = next(iter(tf.data.TFRecordDataset(path))).numpy()
  ex = tf.train.SequenceExample.FromString(raw)
  ctx = ex.context.feature
  return [ctx[f"{modality}/height"].int64_list.value[0], ctx[f"{modality}/width"].int64_list.value[0]]


def convert_run(raw: str, out: str, *, workers: int, modalities: tuple[str, ...], crop: str,
                short_side: int, videos: int, rgb_frames: int, depth_frames: int) -> dict:
  """Times one `prepare ntu60_video`; rates per video and per RGB frame, and projections."""
  cpu0 = _cpu_seconds()
  t0 = time.perf_counter()
  summary = prepare.prepare("ntu60_video", raw, out, workers=workers, progress=False,
                            modalities=modalities, crop=crop, short_side=short_side)
  seconds = time.perf_counter() - t0
  cpu = _cpu_seconds() - cpu0
  fps = rgb_frames / seconds
  cpu_per_frame = cpu / rgb_frames
  cores = os.cpu_count() or 1
  result = {
      "workers": workers, "modalities": ",".join(modalities), "crop": crop or "person",
      "seconds": round(seconds, 2), "videos_per_s": round(videos / seconds, 3),
      "rgb_frames_per_s": round(fps, 1),
      "cpu_s": round(cpu, 1), "cores_busy": round(cpu / seconds, 2),
      "cpu_ms_per_rgb_frame": round(1000 * cpu_per_frame, 2),
      # Wall time here (this machine, `workers` processes) and CPU time spread over idle cores.
      "ntu60_rgb_projected_hours_here": round(NTU60_FRAMES / fps / 3600, 1),
      "ntu60_rgb_projected_core_hours": round(NTU60_FRAMES * cpu_per_frame / 3600, 1),
      "ntu60_rgb_projected_hours_on_%d_idle_cores" % cores:
          round(NTU60_FRAMES * cpu_per_frame / cores / 3600, 1),
      "ntu60_rgb_projected_hours_on_16_idle_cores": round(NTU60_FRAMES * cpu_per_frame / 16 / 3600, 1),
      "rejected": summary["rejected"], "notes": summary["notes"],
  }
  if "depth" in modalities:
    result["depth_frames_per_s"] = round(depth_frames / seconds, 1)
  return result


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--clips", type=int, default=12,
                      help="synthetic NTU-format clips (one per class, all in xsub/train);"
                           " an even number keeps 2 workers balanced (2 clips per worker call)")
  parser.add_argument("--frames", default="90,110", help="frames per clip, uniform in LO,HI")
  parser.add_argument("--size", default="1080x1920", help="source frame size HxW (NTU: 1080x1920)")
  parser.add_argument("--workers", default="1,2", help="comma-separated `--workers` values to time")
  parser.add_argument("--short_side", type=int, default=256,
                      help="records' short side (NTU default 256) and the small frame folders'")
  parser.add_argument("--folder_quality", type=int, default=95,
                      help="JPEG quality of the extracted frame folders")
  parser.add_argument("--no_depth", action="store_true", help="skip the RGB + depth conversions")
  parser.add_argument("--no_crop_none", action="store_true",
                      help="skip the extra RGB conversion with --crop none (full frames: the same"
                           " picture as the small frame folders)")
  parser.add_argument("--no_folders", action="store_true", help="skip the frame-folder extraction")
  parser.add_argument("--seed", type=int, default=0, help="synthetic data seed")
  parser.add_argument("--tmp", default="", help="scratch folder (default: a new temporary folder)")
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                    "video_convert.json"),
                      help="where to write the JSON results")
  args = parser.parse_args(argv)
  workers_list = [int(w) for w in args.workers.split(",") if w]
  tmp = tempfile.mkdtemp(prefix="video_convert_", dir=args.tmp or None)
  load = LoadSampler()
  try:
    raw = os.path.join(tmp, "raw")
    t0 = time.perf_counter()
    made = synthetic_video.write_ntu_video(raw, num_classes=args.clips, samples_per_class=1,
                                           seed=args.seed, num_frames=_pair(args.frames, ","),
                                           size=_pair(args.size, "x"), codec="h264",
                                           with_skeleton=True, edge_cases=False)
    gen_s = time.perf_counter() - t0
    videos = sorted(glob.glob(os.path.join(raw, "nturgb+d_rgb", "*_rgb.avi")))
    n = len(videos)
    rgb_frames = sum(made["frames"].values())
    depth_frames = sum(made["depth_frames"].values())
    for p in videos:  # page cache: every run reads warm files
      with open(p, "rb") as f:
        f.read()
    result = {
        "benchmark": "video_convert", "dataset": "ntu60_video (synthetic, genuine format)",
        "videos": n, "rgb_frames": rgb_frames, "mean_frames": round(rgb_frames / n, 1),
        "depth_frames": depth_frames, "source": f"{made['size'][1]}x{made['size'][0]}"
        f" {made['encoder']} AVI (superfast, crf 20, B-frames)",
        "mean_video_mib": round(sum(os.path.getsize(p) for p in videos) / n / 2**20, 2),
        "generate_s": round(gen_s, 1), "short_side": args.short_side,
        "records_jpeg_quality": 90, "cpus": os.cpu_count(), "python": platform.python_version(),
        "pyav": av.__version__, "load_avg_1min_before": round(os.getloadavg()[0], 2),
        "ntu60": {"videos": NTU60_VIDEOS, "frames": NTU60_FRAMES},
    }
    records._tf()  # TensorFlow's import (seconds, once per run) is not a per-video cost
    kw = dict(short_side=args.short_side, videos=n, rgb_frames=rgb_frames, depth_frames=depth_frames)
    runs = []
    for modalities in (("rgb",),) + (() if args.no_depth else (("rgb", "depth"),)):
      for w in workers_list:
        out = os.path.join(tmp, f"rec_{'_'.join(modalities)}_{w}")
        runs.append(convert_run(raw, out, workers=w, modalities=modalities, crop="", **kw))
        if modalities == ("rgb",) and w == workers_list[-1]:
          result["records_rgb_person_crop"] = {"frame_size_hw": frame_size_of_records(out),
                                               **record_stats(out, rgb_frames)}
        if "depth" in modalities and w == workers_list[-1]:
          result["records_rgb_depth_person_crop"] = record_stats(out, rgb_frames)
        shutil.rmtree(out, ignore_errors=True)
    if not args.no_crop_none:
      out = os.path.join(tmp, "rec_rgb_none")
      runs.append(convert_run(raw, out, workers=workers_list[-1], modalities=("rgb",), crop="none",
                              **kw))
      result["records_rgb_full_frame"] = {"frame_size_hw": frame_size_of_records(out),
                                          **record_stats(out, rgb_frames)}
      shutil.rmtree(out, ignore_errors=True)
    result["runs"] = runs
    by = {(r["modalities"], r["workers"], r["crop"]): r for r in runs}
    if len(workers_list) > 1:
      a, b = workers_list[0], workers_list[-1]
      result["speedup_workers_%d_vs_%d" % (b, a)] = {
          m: round(by[m, b, "person"]["rgb_frames_per_s"] / by[m, a, "person"]["rgb_frames_per_s"], 2)
          for m in {r["modalities"] for r in runs}}
    if not args.no_folders:
      folders = extract_folders(videos, os.path.join(tmp, "frames"), short_side=args.short_side,
                                quality=args.folder_quality)
      result["frame_folders"] = folders
      rec = result["records_rgb_person_crop"]["kib_per_frame"]
      result["bytes_ratio_folder_vs_records"] = {
          "full_size_q95_vs_records_person_crop": round(folders["full"]["kib_per_frame"] / rec, 1),
          "short_side_q95_vs_records_person_crop": round(folders["short"]["kib_per_frame"] / rec, 2)}
      if "records_rgb_full_frame" in result:
        full = result["records_rgb_full_frame"]["kib_per_frame"]
        result["bytes_ratio_folder_vs_records"].update({
            "full_size_q95_vs_records_full_frame": round(folders["full"]["kib_per_frame"] / full, 1),
            "short_side_q95_vs_records_full_frame": round(folders["short"]["kib_per_frame"] / full, 2)})
    result["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    result["load_during_run"] = load.summary()
    result["peak_rss_mb_parent"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  write_result(result, args.out)
  return result


if __name__ == "__main__":
  main(sys.argv[1:])
