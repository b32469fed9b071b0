"""Video input-pipeline throughput (clips/s) with training augmentation: actionjax's tf.data
pipeline reading prepared records against a PyTorch `DataLoader` reading extracted JPEG frame
folders with PIL the way public RGB-D toolboxes do (TSN-style dataset), side by side in one run.

Both readers produce uint8 (B, T, S, S, 3) batches of the same clips: segment sampling of T frames,
one multi-scale crop (TSN scales x the short side, max distortion 1, uniform position) for all
frames of a clip, bilinear resize to S x S, random horizontal flip. The frame folders hold the very
JPEG bytes of the records (same size, same quality), so both readers decode identical images;
`--full_size` adds folders of full-size source frames at quality 95, as toolboxes often store them.
Readers take turns in rounds (a fresh iterator each round: warm-up batches, then timed batches);
the figure is the median over rounds.

    python benchmarks/video_input.py [--clips 12] [--shapes 16x112,32x224] [--batch 8]
        [--batches 12] [--rounds 3] [--workers 2]

Writes benchmarks/results/video_input.json and prints it.
"""
from __future__ import annotations

import argparse
import glob
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from video_convert import LoadSampler, write_result  # benchmarks/ is on sys.path when a script there runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_VIDEO = os.path.join(REPO, "configs", "tiny_video.py")
TSN_SCALES = (1.0, 2 ** -0.25, 2 ** -0.75, 0.5)  # = data_pipelines.video_augment.TSN_SCALES


# --------------------------------------------------------------------------- the PyTorch reader
class FrameFolderClips:
  """A TSN-style `torch.utils.data.Dataset` over RGB frame folders (`img_00001.jpg`, ...), as
  public RGB-D / video toolboxes write it: `__getitem__` lists the folder, samples T segment
  indices, opens each JPEG with PIL, crops the same multi-scale box out of every frame, resizes it
  to size x size (bilinear), flips all frames or none, and stacks them to a uint8 (T, S, S, 3)
  tensor. torchvision is not installed here, so the group transforms are written with PIL, as
  TSN's GroupMultiScaleCrop / GroupRandomHorizontalFlip do internally."""

  def __init__(self, folders, labels, num_frames: int, size: int, *, scales=TSN_SCALES,
               max_distort: int = 1, flip: bool = True):
    self.folders, self.labels = list(folders), list(labels)
    self.num_frames, self.size = int(num_frames), int(size)
    self.pairs = [(scales[i], scales[j]) for i in range(len(scales)) for j in range(len(scales))
                  if abs(i - j) <= max_distort]
    self.flip = flip

  def __len__(self) -> int:
    return len(self.folders)

  def _indices(self, n: int) -> list[int]:
    T = self.num_frames
    if n < T:  # loop padding
      return [k % n for k in range(T)]
    return [min(int((k + random.random()) * n / T), n - 1) for k in range(T)]

  def _box(self, w: int, h: int) -> tuple[int, int, int, int]:
    sh, sw = random.choice(self.pairs)
    short = min(w, h)
    ch, cw = min(round(short * sh), h), min(round(short * sw), w)
    y0, x0 = random.randint(0, h - ch), random.randint(0, w - cw)
    return x0, y0, x0 + cw, y0 + ch

  def __getitem__(self, i: int):
    import torch
    folder = self.folders[i]
    files = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    imgs = [Image.open(os.path.join(folder, files[j])).convert("RGB")
            for j in self._indices(len(files))]
    box = self._box(*imgs[0].size)
    imgs = [im.crop(box).resize((self.size, self.size), Image.BILINEAR) for im in imgs]
    if self.flip and random.random() < 0.5:
      imgs = [im.transpose(Image.FLIP_LEFT_RIGHT) for im in imgs]
    return torch.from_numpy(np.stack([np.asarray(im) for im in imgs])), self.labels[i]


def torch_loader(folders, labels, num_frames: int, size: int, *, batch: int, workers: int):
  """The DataLoader of `FrameFolderClips`: random clips with replacement (an endless stream),
  `workers` worker processes (default fork start, prefetch_factor 2), default collation."""
  from torch.utils.data import DataLoader, Dataset, RandomSampler

  class _Dataset(FrameFolderClips, Dataset):
    pass

  ds = _Dataset(folders, labels, num_frames, size)
  sampler = RandomSampler(ds, replacement=True, num_samples=2**31 - 1)
  return DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                    pin_memory=False, persistent_workers=False)


# --------------------------------------------------------------------------- actionjax's reader
def actionjax_config(records_dir: str, protocol: str, num_frames: int, size: int):
  """`configs/tiny_video.py:ntu60_xsub` on the benchmark's records, with flips (NTU trains with
  them), the default multi-scale crop, and T x S x S clips."""
  from actionjax import config as config_lib
  c = config_lib.load(f"{TINY_VIDEO}:ntu60_xsub")
  c.data.dir, c.data.protocol = records_dir, protocol
  c.data.num_frames, c.data.image_size, c.data.flip = num_frames, size, True
  c.data.shuffle_buffer = 16
  return c


def actionjax_pipeline(config, split: str, *, batch: int, seed: int, threads: int):
  """`input.make` for `config` (a VideoPipeline), with tf.data's threads limited to `threads`
  (`tf.data.Options.threading.private_threadpool_size`; 0 keeps TF's default pool)."""
  from data_pipelines import video_input

  class Limited(video_input.VideoPipeline):
    def _options(self):
      opts = super()._options()
      if threads:
        opts.threading.private_threadpool_size = threads
      return opts

  return Limited(config, split, train=True, batch_size=batch, seed=seed, process_index=0,
                 process_count=1)


# --------------------------------------------------------------------------- data
def make_data(tmp: str, *, clips: int, frames: tuple[int, int], size: tuple[int, int],
              short_side: int, seed: int, full_size: bool, raw_dir: str = "") -> dict:
  """Synthetic NTU RGB videos -> records (`prepare ntu60_video --modalities rgb --crop none`)
  and frame folders holding the records' JPEG bytes (+ full-size q95 folders). A non-empty
  `raw_dir` is reused as it is (else the videos are written there, or into `tmp`)."""
  import tensorflow as tf
  from data_pipelines import prepare, records, synthetic_video
  raw, rec = raw_dir or os.path.join(tmp, "raw"), os.path.join(tmp, "records")
  rgb_dir = os.path.join(raw, "nturgb+d_rgb")
  if not (os.path.isdir(rgb_dir) and os.listdir(rgb_dir)):
    synthetic_video.write_ntu_video(raw, num_classes=clips, samples_per_class=1, seed=seed,
                                    num_frames=frames, size=size, codec="h264",
                                    with_skeleton=False, edge_cases=False)
  summary = prepare.prepare("ntu60_video", raw, rec, workers=min(2, os.cpu_count() or 1),
                            progress=False, modalities=("rgb",), crop="none", short_side=short_side)
  counts = [(n, p, s) for p, splits in summary["protocols"].items() for s, n in splits.items()]
  _, protocol, split = max(counts)
  folders, labels, full = [], [], []
  for path in records.split_files(rec, protocol, split):
    for raw_record in tf.data.TFRecordDataset(path):
      ex = tf.train.SequenceExample.FromString(raw_record.numpy())
      name = ex.context.feature["name"].bytes_list.value[0].decode()
      folder = os.path.join(tmp, "frames", name)
      os.makedirs(folder)
      for i, f in enumerate(ex.feature_lists.feature_list["rgb/encoded"].feature):
        with open(os.path.join(folder, f"img_{i + 1:05d}.jpg"), "wb") as out:
          out.write(f.bytes_list.value[0])
      folders.append(folder)
      labels.append(int(ex.context.feature["label"].int64_list.value[0]))
      if full_size:
        import av
        folder = os.path.join(tmp, "frames_full", name)
        os.makedirs(folder)
        with av.open(os.path.join(raw, "nturgb+d_rgb", f"{name}_rgb.avi")) as container:
          for i, frame in enumerate(container.decode(video=0)):
            Image.fromarray(frame.to_ndarray(format="rgb24")).save(
                os.path.join(folder, f"img_{i + 1:05d}.jpg"), quality=95)
        full.append(folder)
  first = sorted(os.listdir(folders[0]))[0]
  with Image.open(os.path.join(folders[0], first)) as im:
    stored = [im.height, im.width]
  import av
  with av.open(glob.glob(os.path.join(rgb_dir, "*.avi"))[0]) as container:
    source = [container.streams.video[0].height, container.streams.video[0].width]
  return {"records": rec, "protocol": protocol, "split": split, "folders": folders,
          "labels": labels, "full_folders": full, "stored_frame_hw": stored,
          "mean_frames": round(float(np.mean([len(os.listdir(f)) for f in folders])), 1),
          "source_hw": source, "records_jpeg_quality": 90}


# --------------------------------------------------------------------------- timing
def self_cpu() -> float:
  """CPU seconds (user + system) of this process, all threads."""
  r = resource.getrusage(resource.RUSAGE_SELF)
  return r.ru_utime + r.ru_stime


def pid_cpu(pid: int) -> float:
  """CPU seconds of a live process (another process's threads included) from /proc."""
  with open(f"/proc/{pid}/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_batches(it, *, warmup: int, batches: int, batch: int, to_array, cpu=self_cpu) -> dict:
  """Wall clips/s and CPU ms per clip (`cpu()`: the reader's CPU seconds so far, all its threads
  and processes) over `batches` batches after `warmup` batches, and the last batch's shape."""
  for _ in range(warmup):
    x = to_array(next(it))
  c0, t0 = cpu(), time.perf_counter()
  for _ in range(batches):
    x = to_array(next(it))
  dt, dc = time.perf_counter() - t0, cpu() - c0
  return {"clips_per_s": batch * batches / dt, "cpu_ms_per_clip": 1000 * dc / (batch * batches),
          "shape": list(x.shape), "dtype": str(x.dtype)}


def measure_actionjax(data: dict, num_frames: int, size: int, *, batch: int, warmup: int,
                      batches: int, seed: int, threads: int) -> dict:
  config = actionjax_config(data["records"], data["protocol"], num_frames, size)
  pipe = actionjax_pipeline(config, data["split"], batch=batch, seed=seed, threads=threads)
  try:
    return time_batches(pipe, warmup=warmup, batches=batches, batch=batch,
                        to_array=lambda b: b["inputs"])
  finally:
    del pipe


def measure_torch(folders, labels, num_frames: int, size: int, *, batch: int, warmup: int,
                  batches: int, seed: int, workers: int) -> dict:
  import torch
  torch.manual_seed(seed)
  loader = torch_loader(folders, labels, num_frames, size, batch=batch, workers=workers)
  it = iter(loader)
  pids = [w.pid for w in getattr(it, "_workers", [])]  # the worker processes (private API)
  cpu = lambda: self_cpu() + sum(pid_cpu(p) for p in pids)
  try:
    return time_batches(it, warmup=warmup, batches=batches, batch=batch,
                        to_array=lambda b: b[0].numpy(), cpu=cpu)
  finally:
    del it


def compare(data: dict, num_frames: int, size: int, *, batch: int, warmup: int, batches: int,
            rounds: int, workers: int, tf_threads: int, full_size: bool) -> dict:
  """Readers alternate (round r: actionjax first when r is even); medians over rounds."""
  readers = {
      "actionjax_tfdata": lambda r: measure_actionjax(
          data, num_frames, size, batch=batch, warmup=warmup, batches=batches, seed=100 + r,
          threads=tf_threads),
      "torch_dataloader": lambda r: measure_torch(
          data["folders"], data["labels"], num_frames, size, batch=batch, warmup=warmup,
          batches=batches, seed=100 + r, workers=workers)}
  if full_size and data["full_folders"]:
    readers["torch_dataloader_full_size_q95"] = lambda r: measure_torch(
        data["full_folders"], data["labels"], num_frames, size, batch=batch, warmup=warmup,
        batches=max(2, batches // 4), seed=100 + r, workers=workers)
  rates = {k: [] for k in readers}
  cpu = {k: [] for k in readers}
  shapes = {}
  for r in range(rounds):
    order = list(readers) if r % 2 == 0 else list(reversed(readers))
    for name in order:
      m = readers[name](r)
      rates[name].append(round(m["clips_per_s"], 1))
      cpu[name].append(round(m["cpu_ms_per_clip"], 1))
      shapes[name] = {"shape": m["shape"], "dtype": m["dtype"]}
  median = {k: round(float(np.median(v)), 1) for k, v in rates.items()}
  cpu_median = {k: round(float(np.median(v)), 1) for k, v in cpu.items()}
  ours = "actionjax_tfdata"
  out = {"num_frames": num_frames, "size": size, "batch": batch, "timed_batches": batches,
         "warmup_batches": warmup, "rounds": rounds, "clips_per_s_rounds": rates,
         "clips_per_s": median, "cpu_ms_per_clip_rounds": cpu, "cpu_ms_per_clip": cpu_median,
         "batches": shapes,
         # > 1: actionjax delivers more clips per second / spends less CPU per clip.
         "ratio_actionjax_vs_torch": round(median[ours] / max(median["torch_dataloader"], 1e-9), 2),
         "cpu_ratio_torch_vs_actionjax": round(cpu_median["torch_dataloader"] /
                                               max(cpu_median[ours], 1e-9), 2)}
  if "torch_dataloader_full_size_q95" in median:
    full = "torch_dataloader_full_size_q95"
    out["ratio_actionjax_vs_torch_full_size"] = round(median[ours] / max(median[full], 1e-9), 2)
    out["cpu_ratio_torch_full_size_vs_actionjax"] = round(cpu_median[full] /
                                                          max(cpu_median[ours], 1e-9), 2)
  return out


def stage_costs(data: dict, num_frames: int, size: int, *, clips: int = 6, repeats: int = 3) -> dict:
  """Where a clip's CPU time goes (`--profile`): each stage of actionjax's per-sample function
  and of the DataLoader's `__getitem__`, timed alone in this process (CPU ms per clip, median over
  clips and repeats, same frames and crop box for both), and the alternatives of the proposed
  pipeline patch: a cropped decode (`decode_and_crop_jpeg`, one spare column each side, which makes
  it bit-identical to decode-then-crop), `ResizeBilinear(align_corners=True)` (crop_and_resize's
  sampling grid) with one rounding op, and the flip as a rank-3 reverse."""
  import tensorflow as tf
  from data_pipelines import video_augment as aug
  from data_pipelines import video_records

  def cost(fn, *args) -> float:
    fn(*args)
    c0 = time.process_time()
    for _ in range(repeats):
      fn(*args)
    return 1000 * (time.process_time() - c0) / repeats

  S, T = size, num_frames
  parse = tf.function(lambda s, u: tf.gather(
      video_records.parse(s, ("rgb",))["rgb/encoded"],
      aug.segment_indices(tf.size(video_records.parse(s, ("rgb",))["rgb/encoded"]), T, u)))
  decode = tf.function(lambda e: tf.map_fn(
      lambda s: tf.io.decode_jpeg(s, channels=3, dct_method="INTEGER_ACCURATE"), e,
      fn_output_signature=tf.uint8))
  crop_resize = tf.function(lambda f, box: aug.crop_resize(f, box, S, nearest=False))
  reverse = tf.function(lambda x: tf.reverse(x, [2]))

  def _decode_crop(e, win, width):
    xs, xe = tf.maximum(win[1] - 1, 0), tf.minimum(win[1] + win[3] + 1, width)
    window = tf.stack([win[0], xs, win[2], xe - xs])
    f = tf.map_fn(lambda s: tf.io.decode_and_crop_jpeg(s, window, channels=3,
                                                       dct_method="INTEGER_ACCURATE"),
                  e, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    return f[:, :, win[1] - xs:win[1] - xs + win[3]]
  decode_crop = tf.function(_decode_crop)
  resize = tf.function(lambda f: tf.cast(
      tf.raw_ops.ResizeBilinear(images=f, size=[S, S], align_corners=True) + 0.5, tf.uint8))
  reverse3 = tf.function(lambda x: tf.reshape(tf.reverse(tf.reshape(x, [-1, S, 3]), [1]),
                                              tf.shape(x)))

  rng = np.random.default_rng(0)
  rows = []
  serialized = [r.numpy() for path in __import__("data_pipelines.records", fromlist=["x"]).split_files(
      data["records"], data["protocol"], data["split"]) for r in tf.data.TFRecordDataset(path)]
  for k, ser in enumerate(serialized[:clips]):
    u = rng.random(T).astype(np.float32)
    folder = data["folders"][k]
    files = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    h, w = data["stored_frame_hw"]
    box = aug.multiscale_box(h, w, tf.constant(rng.random(3), tf.float32))
    y0, x0, y1, x1 = (int(round(float(v) * d)) for v, d in zip(box.numpy(), (h, w, h, w)))
    win = tf.constant([y0, x0, y1 - y0, x1 - x0])
    ser_t, u_t = tf.constant(ser), tf.constant(u)
    enc = parse(ser_t, u_t)
    frames = decode(enc)
    out = crop_resize(frames, box)
    cropped = decode_crop(enc, win, w)
    idx = aug.segment_indices(len(files), T, u_t).numpy()

    def pil_decode():
      names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
      return [Image.open(os.path.join(folder, names[j])).convert("RGB") for j in idx]
    imgs = pil_decode()
    small = [im.crop((x0, y0, x1, y1)).resize((S, S), Image.BILINEAR) for im in imgs]
    rows.append({
        "parse_gather": cost(parse, ser_t, u_t), "decode": cost(decode, enc),
        "crop_resize": cost(crop_resize, frames, box), "flip_reverse": cost(reverse, out),
        "decode_and_crop": cost(decode_crop, enc, win, w), "resize_bilinear": cost(resize, cropped),
        "flip_rank3_reverse": cost(reverse3, out),
        "pil_list_open_decode": cost(pil_decode),
        "pil_crop_resize": cost(lambda: [im.crop((x0, y0, x1, y1)).resize((S, S), Image.BILINEAR)
                                         for im in imgs]),
        "pil_flip": cost(lambda: [im.transpose(Image.FLIP_LEFT_RIGHT) for im in small]),
        "pil_stack": cost(lambda: np.stack([np.asarray(im) for im in small]))})
  med = {k: round(float(np.median([r[k] for r in rows])), 2) for k in rows[0]}
  # A clip is flipped half of the time.
  med["sum_current"] = round(med["parse_gather"] + med["decode"] + med["crop_resize"]
                             + 0.5 * med["flip_reverse"], 1)
  med["sum_proposed"] = round(med["parse_gather"] + med["decode_and_crop"]
                              + med["resize_bilinear"] + 0.5 * med["flip_rank3_reverse"], 1)
  med["sum_pil"] = round(med["pil_list_open_decode"] + med["pil_crop_resize"]
                         + 0.5 * med["pil_flip"] + med["pil_stack"], 1)
  return {"num_frames": T, "size": S, "clips": len(rows), "cpu_ms_per_clip": med}


def train_step_rate(num_frames: int, size: int, batch: int, steps: int) -> dict:
  """tiny_video's train step on random inputs of the clip shape (actionjax.bench.bench_config)."""
  from actionjax import bench
  from actionjax import config as config_lib
  c = config_lib.load(f"{TINY_VIDEO}:ntu60_xsub")
  c.data.num_frames, c.data.image_size = num_frames, size
  r = bench.bench_config(c, batch_size=batch, steps=steps)
  return {"num_frames": num_frames, "size": size, "batch": batch,
          "train_clips_per_s": round(r["train_samples_per_s"], 1),
          "train_step_s": round(r["train_step_s"], 3), "compile_s": round(r["train_compile_s"], 1),
          "parameters": r["parameters"]}


def _shape(text: str) -> tuple[int, int]:
  t, s = text.lower().split("x")
  return int(t), int(s)


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--clips", type=int, default=12, help="synthetic NTU-format RGB videos")
  parser.add_argument("--frames", default="90,110", help="frames per video, uniform in LO,HI")
  parser.add_argument("--source_size", default="1080x1920",
                      help="synthetic video size HxW (NTU: 1080x1920); records and frame folders"
                           " hold it resized to --short_side")
  parser.add_argument("--short_side", type=int, default=256, help="stored frames' short side")
  parser.add_argument("--shapes", default="16x112,32x224",
                      help="comma-separated TxS clip shapes (T frames of S x S)")
  parser.add_argument("--batch", type=int, default=8, help="clips per batch (both readers)")
  parser.add_argument("--batches", type=int, default=12, help="timed batches per reader and round")
  parser.add_argument("--warmup", type=int, default=3,
                      help="untimed batches after each fresh iterator (startup, autotune, prefetch)")
  parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians reported")
  parser.add_argument("--workers", type=int, default=2, help="DataLoader num_workers")
  parser.add_argument("--tf_threads", type=int, default=2,
                      help="tf.data private_threadpool_size for actionjax's pipeline (0: TF's"
                           " default pool); 2 matches --workers 2")
  parser.add_argument("--full_size", action="store_true",
                      help="also time the DataLoader on full-size (source) frame folders, q95")
  parser.add_argument("--no_step", action="store_true",
                      help="skip tiny_video's train-step rate (bench_config; compiles per shape)")
  parser.add_argument("--profile", action="store_true",
                      help="also time each stage of both readers' per-clip work alone (CPU ms per"
                           " clip) and the stages of the proposed pipeline patch")
  parser.add_argument("--step_batch", type=int, default=0, help="train-step batch (0: --batch)")
  parser.add_argument("--seed", type=int, default=0, help="synthetic data seed")
  parser.add_argument("--raw_dir", default="",
                      help="keep the synthetic videos here and reuse them when present (default:"
                           " written into the scratch folder and removed)")
  parser.add_argument("--tmp", default="", help="scratch folder (default: a new temporary folder)")
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                    "video_input.json"),
                      help="where to write the JSON results")
  args = parser.parse_args(argv)
  import tensorflow as tf
  import torch
  tmp = tempfile.mkdtemp(prefix="video_input_", dir=args.tmp or None)
  load = LoadSampler()
  try:
    t0 = time.perf_counter()
    data = make_data(tmp, clips=args.clips, frames=_shape(args.frames.replace(",", "x")),
                     size=_shape(args.source_size), short_side=args.short_side, seed=args.seed,
                     full_size=args.full_size, raw_dir=args.raw_dir)
    folder_bytes = sum(os.path.getsize(p) for f in data["folders"] for p in glob.glob(f + "/*"))
    record_bytes = sum(os.path.getsize(p) for p in glob.glob(
        os.path.join(data["records"], data["protocol"], data["split"] + "-*")))
    result = {
        "benchmark": "video_input",
        "what": "training clips/s: segment sampling, decode the T sampled JPEGs, one multi-scale"
                " crop per clip (TSN scales, max distortion 1), bilinear resize, random flip,"
                " batch; uint8 (B, T, S, S, 3)",
        "readers": {
            "actionjax_tfdata": "data_pipelines.input.make (VideoPipeline) on SequenceExample"
                                " records, tf.data private_threadpool_size="
                                f"{args.tf_threads or 'default'}, deterministic order",
            "torch_dataloader": f"torch DataLoader(num_workers={args.workers}, prefetch_factor=2,"
                                " fork) over a TSN-style Dataset: os.listdir, PIL open/convert,"
                                " crop + resize(BILINEAR) + flip per frame, np.stack",
        },
        "clips": len(data["folders"]), "mean_frames": data["mean_frames"],
        "source_hw": data["source_hw"], "stored_frame_hw": data["stored_frame_hw"],
        "jpeg_quality": data["records_jpeg_quality"],
        "record_kib_per_frame": round(record_bytes / 1024 / sum(
            len(os.listdir(f)) for f in data["folders"]), 2),
        "folder_kib_per_frame": round(folder_bytes / 1024 / sum(
            len(os.listdir(f)) for f in data["folders"]), 2),
        "setup_s": round(time.perf_counter() - t0, 1),
        "cpus": os.cpu_count(), "tensorflow": tf.__version__, "torch": torch.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
    }
    result["runs"] = [
        compare(data, t, s, batch=args.batch, warmup=args.warmup, batches=args.batches,
                rounds=args.rounds, workers=args.workers, tf_threads=args.tf_threads,
                full_size=args.full_size)
        for t, s in (_shape(x) for x in args.shapes.split(",") if x)]
    if args.profile:
      result["stage_costs"] = [stage_costs(data, t, s)
                               for t, s in (_shape(x) for x in args.shapes.split(",") if x)]
    if not args.no_step:
      result["train_step_tiny_video"] = [
          train_step_rate(t, s, args.step_batch or args.batch, steps=3)
          for t, s in (_shape(x) for x in args.shapes.split(",") if x)]
    result["load_during_run"] = load.summary()
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  write_result(result, args.out)
  return result


if __name__ == "__main__":
  main(sys.argv[1:])
