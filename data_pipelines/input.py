"""tf.data input pipelines for prepared skeleton records -> per-process numpy batches.

Batches follow docs/architecture.md: `inputs` float32 (B, M, T, V, C), `label` int32 (B,), `name`
object bytes (B,), `valid` bool (B,). Shapes are static: persons are padded / truncated to
data.max_persons, time is resampled to data.num_frames.

Training is an infinite, exactly resumable stream. Each process sees its records as one endless
sequence of epochs; epoch e is its files in a permutation drawn from (seed, e), interleaved, then a
shuffle buffer seeded by (seed, e, process). Every random number of the sample at position i of
epoch e comes from the stateless key fold_in(fold_in((seed, process), e), i), so batch k depends
only on (seed, k): `get_state()` is {"batches": k, "seed", "global_batch"} (equal on every
process, since each yields one batch per step; batches may straddle epochs) and a pipeline restored
with it rebuilds epoch k*B // n and skips the k*B % n raw records before the position (no parsing).

Evaluation is one finite pass in file order; each sample is repeated `num_clips` times (clip c
draws its sampling offsets from (seed, c)); every process yields the same number of batches (the
largest over processes) and pads with `valid=False` rows, so collective steps never hang.

Processes read disjoint shard files when there are at least as many files as processes, and
otherwise every process reads all files and keeps records i with i % process_count == index.
"""
from __future__ import annotations

import abc
import math
import os
import struct
import warnings
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from data_pipelines import augment, records
from data_pipelines.errors import DataError, missing_data_message
from data_pipelines.preprocess import normalize as normalize_lib

AUTOTUNE = tf.data.AUTOTUNE
_2D_DATASETS = ("kinetics", "kinetics_skeleton", "kinetics400_skeleton")


def hide_gpus_from_tf() -> None:
  """Keeps TensorFlow off accelerators so JAX keeps all of their memory (jax_stack.md)."""
  try:
    tf.config.set_visible_devices([], "GPU")
  except (RuntimeError, ValueError):  # already initialised: nothing more we can do here
    pass


hide_gpus_from_tf()


def count_records(path: str) -> int:
  """Number of records in an uncompressed TFRecord file, walking only the 12-byte headers.

  Layout per record: uint64 length, uint32 crc, data, uint32 crc. Falls back to reading the file
  with tf.data when the framing does not add up (e.g. a compressed file).
  """
  size = os.path.getsize(path)
  n, pos = 0, 0
  with open(path, "rb") as f:
    while pos + 12 <= size:
      f.seek(pos)
      (length,) = struct.unpack("<Q", f.read(8))
      pos += 16 + length
      n += 1
  if pos == size:
    return n
  return int(tf.data.TFRecordDataset(path).reduce(np.int64(0), lambda c, _: c + 1).numpy())


def coord_dims_of(info: dict, channels: int) -> int:
  """Coordinate channels: info['coord_dims'] when given, 2 for 2D (x, y, score) datasets, else 3."""
  if "coord_dims" in info:
    return int(info["coord_dims"])
  if str(info.get("dataset", "")).lower() in _2D_DATASETS:
    return 2
  return min(3, channels)


class RecordPipeline(abc.ABC):
  """Per-process batches of one split (see module docstring): files, process sharding, epochs,
  exact resume and evaluation padding. Subclasses check their config keys (`_configure`), turn one
  serialized record into one sample (`_train_sample`, `_eval_sample`) and say what a padding row
  is (`_padding_rows`)."""

  def __init__(self, config, split: str, *, train: bool, batch_size: int, seed: int | None = None,
               num_clips: int = 1, process_index: int | None = None,
               process_count: int | None = None, start_batch: int = 0):
    hide_gpus_from_tf()
    d = config.data
    self.config = config
    self.split = split
    self.train = bool(train)
    self.batch_size = int(batch_size)
    self.seed = int(config.seed if seed is None else seed)
    self.num_clips = 1 if self.train else max(1, int(num_clips))
    if process_index is None or process_count is None:
      import jax  # local: the pipeline itself never needs JAX
      process_index = jax.process_index() if process_index is None else process_index
      process_count = jax.process_count() if process_count is None else process_count
    self.process_index, self.process_count = int(process_index), int(process_count)
    if self.batch_size <= 0:
      raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not 0 <= self.process_index < self.process_count:
      raise ValueError(f"process_index {process_index} is outside 0..{process_count - 1}")

    files = records.split_files(d.dir, d.protocol, split)
    if not d.dir or not files or not os.path.isfile(os.path.join(d.dir, records.INFO_FILE)):
      raise DataError(missing_data_message(config))
    self.info: dict = records.read_info(d.dir)
    self.files = files
    self.file_counts = [count_records(f) for f in files]
    self.num_examples = int(sum(self.file_counts))

    self._configure()

    # Which files this process reads, and how many records each process ends up with.
    P, p = self.process_count, self.process_index
    self._shard_records = len(files) < P
    if self._shard_records:
      self.local_files = list(files)
      per_process = [len(range(q, self.num_examples, P)) for q in range(P)]
    else:
      self.local_files = files[p::P]
      per_process = [sum(self.file_counts[q::P]) for q in range(P)]
    self.local_examples = per_process[p]
    if self.local_examples == 0:
      raise DataError(f"split {split!r} in {d.dir} has {self.num_examples} records, too few for "
                      f"{P} processes: process {p} would get none")
    self.num_batches = (max(math.ceil(n * self.num_clips / self.batch_size) for n in per_process)
                        if not self.train else None)

    self._batches = int(start_batch) if self.train else 0
    self._iterator: Iterator | None = None

  @abc.abstractmethod
  def _configure(self) -> None:
    """Reads and checks the subclass's config keys against `self.info`."""

  @abc.abstractmethod
  def _train_sample(self, key: tf.Tensor, serialized: tf.Tensor) -> dict:
    """One training sample; every random draw from the stateless `key`."""

  @abc.abstractmethod
  def _eval_sample(self, clip: tf.Tensor, serialized: tf.Tensor) -> dict:
    """Test clip `clip` of one record, deterministic."""

  @abc.abstractmethod
  def _padding_rows(self, n: int) -> dict[str, np.ndarray]:
    """`n` rows with `valid=False` shaped like a batch's."""

  # ------------------------------------------------------------------ public API
  def steps_per_epoch(self, global_batch: int) -> int:
    """Train: full global batches per pass over the split (>= 1). Eval: global batches for one pass
    over all clips (ceil)."""
    if self.train:
      return max(1, self.num_examples // int(global_batch))
    return math.ceil(self.num_examples * self.num_clips / int(global_batch))

  def get_state(self) -> dict:
    """JSON-serialisable position: batches yielded so far (train); identical on every process."""
    return {"batches": int(self._batches), "seed": self.seed,
            "global_batch": self.batch_size * self.process_count}

  def set_state(self, state: dict) -> None:
    """Continues after `state["batches"]` batches. Exact for the same seed, batch size and process
    count; with another global batch the position is converted to the same number of samples."""
    if not self.train:
      raise ValueError("only training pipelines have a resumable state")
    batches = int(state["batches"])
    if "seed" in state and int(state["seed"]) != self.seed:
      warnings.warn(f"input state was saved with seed {state['seed']}, this pipeline has "
                    f"{self.seed}: the data order will not continue the saved run's")
    global_batch = self.batch_size * self.process_count
    saved_global = int(state.get("global_batch", global_batch))
    if saved_global != global_batch:
      warnings.warn(f"input state was saved with a global batch of {saved_global}, this run has "
                    f"{global_batch}: resuming at the same sample count, not exactly")
      batches = batches * saved_global // global_batch
    self._batches = batches
    self._iterator = None

  def __iter__(self):
    if self.train:
      return self
    return self._eval_batches()

  def __next__(self) -> dict[str, np.ndarray]:
    if self._iterator is None:
      self._iterator = (self._train_dataset(self._batches).as_numpy_iterator() if self.train
                        else self._eval_batches())
    batch = next(self._iterator)
    if self.train:
      self._batches += 1
    return batch

  def __len__(self) -> int:
    if self.train:
      raise TypeError("a training pipeline is infinite; use steps_per_epoch(global_batch)")
    return self.num_batches

  # ------------------------------------------------------------------ datasets
  @staticmethod
  def _options() -> tf.data.Options:
    opts = tf.data.Options()
    opts.deterministic = True
    return opts

  def _epoch(self, epoch: tf.Tensor) -> tf.data.Dataset:
    """(epoch, index-in-epoch, serialized) of this process's records in epoch `epoch`'s order."""
    files = tf.constant(self.local_files)
    n_files = len(self.local_files)
    # File order and interleave depend on (seed, epoch) only: with record sharding every process
    # must see the same sequence before `shard`.
    file_key = tf.stack([tf.constant(self.seed, tf.int64), epoch])
    order = tf.argsort(tf.random.stateless_uniform([n_files], file_key))
    ds = tf.data.Dataset.from_tensor_slices(tf.gather(files, order))
    cycle = min(n_files, 8)
    read = lambda f: tf.data.TFRecordDataset(f, buffer_size=1 << 20)
    if cycle > 1:
      ds = ds.interleave(read, cycle_length=cycle, block_length=1, num_parallel_calls=cycle,
                         deterministic=True)
    else:
      ds = ds.flat_map(read)
    if self._shard_records:
      ds = ds.shard(self.process_count, self.process_index)
    shuffle_key = tf.stack([tf.constant(self.seed, tf.int64),
                            epoch * 65536 + self.process_index + 1])
    shuffle_seed = tf.random.stateless_uniform([], shuffle_key, minval=0, maxval=2**31 - 1,
                                               dtype=tf.int64)
    buffer = max(1, min(int(self.config.data.shuffle_buffer), self.local_examples))
    ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
    return ds.enumerate().map(lambda i, s: (epoch, i, s))

  def _train_dataset(self, start_batch: int) -> tf.data.Dataset:
    start = start_batch * self.batch_size
    first_epoch, offset = divmod(start, self.local_examples)
    base = tf.constant([self.seed, self.process_index], tf.int64)

    def sample(epoch, index, serialized):
      fold = tf.random.experimental.stateless_fold_in
      key = fold(fold(base, epoch), index)
      return self._train_sample(key, serialized)

    ds = tf.data.Dataset.range(first_epoch, 2**62).flat_map(self._epoch).skip(offset)
    ds = ds.map(sample, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(self.batch_size, drop_remainder=True)
    return ds.prefetch(AUTOTUNE).with_options(self._options())

  def _eval_dataset(self) -> tf.data.Dataset:
    ds = tf.data.TFRecordDataset(self.local_files, buffer_size=1 << 20)  # file order
    if self._shard_records:
      ds = ds.shard(self.process_count, self.process_index)
    clips = self.num_clips
    ds = ds.flat_map(lambda s: tf.data.Dataset.zip(
        (tf.data.Dataset.range(clips), tf.data.Dataset.from_tensors(s).repeat(clips))))
    ds = ds.map(self._eval_sample, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(self.batch_size)
    return ds.prefetch(AUTOTUNE).with_options(self._options())

  def _eval_batches(self) -> Iterator[dict[str, np.ndarray]]:
    """One pass: real batches, the last one padded, then all-padding batches up to num_batches."""
    count = 0
    for batch in self._eval_dataset().as_numpy_iterator():
      short = self.batch_size - len(batch["label"])
      if short:
        pad = self._padding_rows(short)
        batch = {k: np.concatenate([batch[k], pad[k]]) for k in pad}
      batch["name"] = batch["name"].astype(object)
      count += 1
      yield batch
    while count < self.num_batches:
      count += 1
      yield self._padding_rows(self.batch_size)


class InputPipeline(RecordPipeline):
  """Skeleton batches: `inputs` float32 (B, M, T, V, C)."""

  def _configure(self) -> None:
    d = self.config.data
    self.num_frames = int(d.num_frames)
    self.max_persons = int(d.max_persons)
    self.num_joints = int(d.num_joints)
    self.channels = int(d.channels)
    info_joints = self.info.get("num_joints")
    if info_joints is not None and int(info_joints) != self.num_joints:
      raise DataError(f"data.num_joints={self.num_joints} but {d.dir} holds {info_joints}-joint "
                       f"skeletons; set --config.data.num_joints={info_joints}")
    info_channels = self.info.get("channels")
    if info_channels is not None and int(info_channels) < self.channels:
      raise DataError(f"data.channels={self.channels} but {d.dir} holds {info_channels} channels")
    self.coord_dims = coord_dims_of(self.info, self.channels)
    pairs = self.info.get("bone_pairs")
    self.parents = augment.bone_parents(pairs, self.num_joints) if pairs else None
    if d.stream not in augment.STREAMS:
      raise ValueError(f"data.stream={d.stream!r} is not one of {', '.join(augment.STREAMS)}")
    if d.stream in ("bone", "bone_motion") and self.parents is None:
      raise DataError(f"data.stream={d.stream!r} needs bone_pairs in {d.dir}/dataset_info.json")
    if d.normalize not in normalize_lib.MODES:
      modes = ", ".join(normalize_lib.MODES)
      raise ValueError(f"data.normalize={d.normalize!r} is not one of {modes}")
    if d.normalize == "pyskl" and self.coord_dims != 3:
      raise DataError("data.normalize='pyskl' (PreNormalize3D) needs 3D skeletons; this dataset "
                      "is 2D (x, y, score): use 'none' or 'ctrgcn'")
    if d.rotation_axes == "xy" and self.coord_dims != 3:
      raise DataError("data.rotation_axes='xy' (NW-UCLA's view transform) needs 3D skeletons; use 'xyz'")
    if d.sampling not in ("crop_resize", "uniform"):
      raise ValueError(f"data.sampling={d.sampling!r} is not one of crop_resize, uniform")

  # ------------------------------------------------------------------ sample transform
  def _load(self, serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict]:
    """Parse, pad/truncate persons, cut to the valid frames, normalise."""
    ex = records.parse(serialized)
    M, V, C = self.max_persons, self.num_joints, self.channels
    x = ex["keypoint"][:M, :, :, :C]
    x = tf.pad(x, [[0, M - tf.shape(x)[0]], [0, 0], [0, 0], [0, 0]])
    x = tf.reshape(x, [M, -1, V, C])
    # A 0-frame record (should not exist) becomes one zero frame instead of failing the gather.
    x = tf.pad(x, [[0, 0], [0, tf.maximum(1 - tf.shape(x)[1], 0)], [0, 0], [0, 0]])
    valid = augment.valid_length(x, ex["num_frames"])
    x = x[:, :valid]
    x = normalize_lib.normalize(x, self.config.data.normalize, coord_dims=self.coord_dims)
    return x, valid, ex

  def _finish(self, x: tf.Tensor, ex: dict, valid_row: bool = True) -> dict:
    x = augment.to_stream(x, self.config.data.stream, self.parents, self.coord_dims)
    x = tf.reshape(x, [self.max_persons, self.num_frames, self.num_joints, self.channels])
    return {"inputs": x, "label": tf.cast(ex["label"], tf.int32), "name": ex["name"],
            "valid": tf.constant(valid_row)}

  def _train_sample(self, key: tf.Tensor, serialized: tf.Tensor) -> dict:
    d = self.config.data
    x, valid, ex = self._load(serialized)
    r = augment.train_draws(key, self.num_frames, d.crop_ratio, float(d.rotation), float(d.scale))
    # The geometry is per frame and linear, so it commutes with the temporal sampling; it comes
    # first so that data.minmax sees the whole sequence, as CTR-GCN's NW-UCLA feeder does.
    if d.scale > 0:
      x = augment.scale(x, r["scale"], self.coord_dims)
    if d.rotation > 0 and d.rotation_axes == "xy":
      x = augment.view_rotate(x, r["angles"])
    elif d.rotation > 0:
      x = augment.rotate(x, r["angles"], self.coord_dims)
    if d.minmax:
      x = augment.minmax(x, self.coord_dims)
    if d.sampling == "crop_resize":
      x = augment.crop_resize(x, valid, self.num_frames, r["p"], r["u"])
    else:
      x = augment.uniform_sample(x, valid, self.num_frames, r["u_frames"])
    return self._finish(x, ex)

  def _eval_sample(self, clip: tf.Tensor, serialized: tf.Tensor) -> dict:
    d = self.config.data
    x, valid, ex = self._load(serialized)
    if d.minmax:
      x = augment.minmax(x, self.coord_dims)
    if d.sampling == "crop_resize":
      # The centred window is deterministic: every clip is the same view.
      x = augment.centre_crop_resize(x, valid, self.num_frames, float(d.test_crop_ratio))
    else:
      key = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(clip, tf.int64)])
      u = tf.random.stateless_uniform([self.num_frames], key)
      x = augment.uniform_sample(x, valid, self.num_frames, u)
    return self._finish(x, ex)

  def _padding_rows(self, n: int) -> dict[str, np.ndarray]:
    shape = (n, self.max_persons, self.num_frames, self.num_joints, self.channels)
    return {"inputs": np.zeros(shape, np.float32), "label": np.zeros(n, np.int32),
            "name": np.full(n, b"", dtype=object), "valid": np.zeros(n, bool)}


def make(config, split: str, **kwargs: Any) -> RecordPipeline:
  """The pipeline of `config`'s data (video when `data.modalities` is set, else skeleton):
  `make(config, config.data.train_split, train=True, batch_size=...)`."""
  if config.data.get("modalities"):
    from data_pipelines.video_input import VideoPipeline
    return VideoPipeline(config, split, **kwargs)
  return InputPipeline(config, split, **kwargs)
