"""InputPipeline (data_pipelines/input.py): batch contract, determinism, resume, sharding, eval."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from actionjax.config import base_config
from data_pipelines import records
from data_pipelines.errors import DataError
from data_pipelines.input import InputPipeline, count_records

NTU_PAIRS = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
             (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17),
             (19, 18), (20, 19), (22, 23), (21, 21), (23, 8), (24, 25), (25, 12)]


def _sample(i, rng):
  """Raw record i: 1-3 persons, 5-90 frames, some with a zero-padded tail."""
  m = 1 + i % 3
  t = int(rng.integers(5, 90))
  kp = rng.normal(size=(m, t, 25, 3)).astype(np.float32) + np.float32(i)
  num_frames = t
  if i % 4 == 1 and t > 8:
    kp[:, t - 3:] = 0.0  # padded tail the pipeline must ignore
  return kp, i % 7, f"S{i:03d}", num_frames


def _write(root, split, n, shards, seed=0):
  rng = np.random.default_rng(seed)
  samples = [_sample(i, rng) for i in range(n)]
  per = np.array_split(np.arange(n), shards)
  os.makedirs(root, exist_ok=True)
  for s, idx in enumerate(per):
    with tf.io.TFRecordWriter(os.path.join(root, records.shard_name(split, s, shards))) as w:
      for i in idx:
        kp, label, name, nf = samples[i]
        w.write(records.serialize(kp, label, name, num_frames=nf))
  return samples, [list(map(int, idx)) for idx in per]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("records"))
  train, train_shards = _write(root, "train", 20, 4, seed=0)
  test, _ = _write(root, "test", 10, 3, seed=1)
  one, _ = _write(root, "single", 6, 1, seed=2)
  info = {"dataset": "ntu60", "num_classes": 7, "class_names": [str(i) for i in range(7)],
          "num_joints": 25, "channels": 3, "max_persons": 2, "bone_pairs": NTU_PAIRS,
          "protocols": {"": {"train": 20, "test": 10, "single": 6}}}
  with open(os.path.join(root, records.INFO_FILE), "w") as f:
    json.dump(info, f)
  return {"dir": root, "train": train, "train_shards": train_shards, "test": test, "single": one}


def _config(root, **data):
  c = base_config()
  c.data.dir = root
  c.data.dataset = "ntu60"
  c.data.num_frames = 16
  c.data.shuffle_buffer = 8
  for k, v in data.items():
    c.data[k] = v
  return c


def _take(pipe, n):
  return [next(pipe) for _ in range(n)]


def _assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    for k in ("inputs", "label", "valid"):
      np.testing.assert_array_equal(x[k], y[k])
    assert list(x["name"]) == list(y["name"])


# ----------------------------------------------------------------------------- numpy references
def _ref_resize(w, out):
  length = w.shape[1]
  res = np.zeros((w.shape[0], out) + w.shape[2:])
  for t in range(out):
    src = max((t + 0.5) * length / out - 0.5, 0.0)
    i0 = min(int(np.floor(src)), length - 1)
    i1 = min(i0 + 1, length - 1)
    res[:, t] = (1 - (src - i0)) * w[:, i0] + (src - i0) * w[:, i1]
  return res


def _ref_eval_input(kp, num_frames, out, p, stream, m=2):
  """Pad/truncate persons, valid frames, CTR-GCN centring, centred crop, stream: float64 loops."""
  x = np.zeros((m,) + kp.shape[1:])
  x[:min(m, kp.shape[0])] = kp[:m]
  nz = [t for t in range(x.shape[1]) if np.any(x[:, t] != 0)]
  valid = min(nz[-1] + 1, num_frames)
  x = x[:, :valid]
  f0 = next(f for f in range(valid) if np.any(x[0, f] != 0))
  origin = x[0, f0, 1].copy()
  for a in range(m):
    for f in range(valid):
      if np.any(x[a, f] != 0):
        x[a, f] -= origin
  bias = int((1 - p) * valid / 2)
  x = _ref_resize(x[:, bias:valid - bias], out)
  if stream == "bone":
    b = np.zeros_like(x)
    for v1, v2 in NTU_PAIRS:
      b[:, :, v1 - 1] = x[:, :, v1 - 1] - x[:, :, v2 - 1]
    x = b
  return x


# ----------------------------------------------------------------------------- tests
def test_count_records_and_sizes(data):
  files = records.split_files(data["dir"], "", "train")
  assert [count_records(f) for f in files] == [len(s) for s in data["train_shards"]]
  pipe = InputPipeline(_config(data["dir"]), "train", train=True, batch_size=4, process_index=0,
                       process_count=1)
  assert pipe.num_examples == 20 and pipe.steps_per_epoch(8) == 2
  assert pipe.info["num_classes"] == 7


def test_train_batch_contract(data):
  pipe = InputPipeline(_config(data["dir"]), "train", train=True, batch_size=4, process_index=0,
                       process_count=1)
  for b in _take(pipe, 6):  # crosses the 20-record epoch boundary
    assert set(b) == {"inputs", "label", "name", "valid"}
    assert b["inputs"].shape == (4, 2, 16, 25, 3) and b["inputs"].dtype == np.float32
    assert b["label"].shape == (4,) and b["label"].dtype == np.int32
    assert b["name"].dtype == object and all(isinstance(n, bytes) for n in b["name"])
    assert b["valid"].dtype == bool and b["valid"].all()
    assert np.isfinite(b["inputs"]).all()


def test_eval_values_match_numpy_reference(data):
  for stream in ("joint", "bone"):
    cfg = _config(data["dir"], stream=stream)
    pipe = InputPipeline(cfg, "test", train=False, batch_size=4, process_index=0, process_count=1)
    batches = list(pipe)
    assert len(batches) == len(pipe) == 3
    rows = [(b["inputs"][i], b["label"][i], b["name"][i]) for b in batches for i in range(4)
            if b["valid"][i]]
    assert [r[2] for r in rows] == [s[2].encode() for s in data["test"]]  # file order
    for (x, label, _), (kp, lab, _, nf) in zip(rows, data["test"]):
      assert label == lab
      np.testing.assert_allclose(x, _ref_eval_input(kp, nf, 16, 0.95, stream), atol=2e-4)


def test_train_without_randomness_matches_eval_resize(data):
  # crop_ratio (1, 1) and no rotation: each training sample is the full valid window resized.
  cfg = _config(data["dir"], crop_ratio=(1.0, 1.0), rotation=0.0, test_crop_ratio=1.0)
  pipe = InputPipeline(cfg, "train", train=True, batch_size=5, process_index=0, process_count=1)
  by_name = {s[2].encode(): s for s in data["train"]}
  for b in _take(pipe, 4):
    for x, name, label in zip(b["inputs"], b["name"], b["label"]):
      kp, lab, _, nf = by_name[name]
      assert label == lab
      np.testing.assert_allclose(x, _ref_eval_input(kp, nf, 16, 1.0, "joint"), atol=2e-4)


def test_determinism_and_seed(data):
  cfg = _config(data["dir"], stream="bone_motion", sampling="uniform", scale=0.3)
  mk = lambda seed: InputPipeline(cfg, "train", train=True, batch_size=4, seed=seed,
                                  process_index=0, process_count=1)
  a, b, c = _take(mk(1), 7), _take(mk(1), 7), _take(mk(2), 7)
  _assert_batches_equal(a, b)
  assert not all(np.array_equal(x["inputs"], y["inputs"]) for x, y in zip(a, c))
  assert [list(x["name"]) for x in a] != [list(x["name"]) for x in c]


def test_epochs_are_permutations_and_reshuffled(data):
  pipe = InputPipeline(_config(data["dir"]), "train", train=True, batch_size=5, process_index=0,
                       process_count=1)
  batches = _take(pipe, 8)
  names = [n for b in batches for n in b["name"]]
  inputs = np.concatenate([b["inputs"] for b in batches])
  epoch0, epoch1 = names[:20], names[20:]
  want = sorted(s[2].encode() for s in data["train"])
  assert sorted(epoch0) == want and sorted(epoch1) == want
  assert epoch0 != epoch1
  # A record is augmented afresh in every epoch (draws depend on the epoch, not only the position).
  for i, name in enumerate(epoch0):
    j = 20 + epoch1.index(name)
    assert not np.allclose(inputs[i], inputs[j])


@pytest.mark.parametrize("n", [3, 5])
def test_exact_resume(data, n):
  cfg = _config(data["dir"], sampling="crop_resize", rotation=0.3)
  mk = lambda **kw: InputPipeline(cfg, "train", train=True, batch_size=3, process_index=0,
                                  process_count=1, **kw)
  full = _take(mk(), 2 * n)
  first = mk()
  head = _take(first, n)
  _assert_batches_equal(head, full[:n])
  state = json.loads(json.dumps(first.get_state()))
  resumed = mk()
  resumed.set_state(state)
  _assert_batches_equal(_take(resumed, n), full[n:])
  assert resumed.get_state()["batches"] == 2 * n
  _assert_batches_equal(_take(mk(start_batch=n), n), full[n:])


@pytest.mark.parametrize("split,count", [("train", 20), ("single", 6)])
def test_two_processes_cover_disjoint_records(data, split, count):
  cfg = _config(data["dir"])
  seen = []
  for p in range(2):
    pipe = InputPipeline(cfg, split, train=True, batch_size=1, process_index=p, process_count=2)
    # Per-process record counts: file sharding (4 files) or record sharding (1 file).
    assert pipe._shard_records == (split == "single")
    names = [b["name"][0] for b in _take(pipe, pipe.local_examples)]
    assert len(set(names)) == pipe.local_examples
    seen.append(set(names))
  assert not seen[0] & seen[1]
  assert len(seen[0] | seen[1]) == count
  # The state is the batch count, the same on both processes.
  assert pipe.get_state()["batches"] == pipe.local_examples


def test_eval_padding_and_clips(data):
  cfg = _config(data["dir"], sampling="uniform")
  pipe = InputPipeline(cfg, "test", train=False, batch_size=4, num_clips=3, process_index=0,
                       process_count=1)
  batches = list(pipe)
  assert len(batches) == math.ceil(30 / 4) == len(pipe) == pipe.steps_per_epoch(4)
  for b in batches:
    assert b["inputs"].shape == (4, 2, 16, 25, 3) and b["label"].dtype == np.int32
  valid = np.concatenate([b["valid"] for b in batches])
  assert valid.sum() == 30 and not valid[30:].any()
  names = np.concatenate([b["name"] for b in batches])
  want = [s[2].encode() for s in data["test"] for _ in range(3)]
  assert list(names[:30]) == want and list(names[30:]) == [b"", b""]
  inputs = np.concatenate([b["inputs"] for b in batches])
  assert np.all(inputs[30:] == 0)
  # Clips of a long sample sample different frames; a second pass repeats the first exactly.
  assert not np.array_equal(inputs[0], inputs[1])
  _assert_batches_equal(batches, list(pipe))


def test_eval_multiprocess_same_batch_count(data):
  cfg = _config(data["dir"])
  pipes = [InputPipeline(cfg, "test", train=False, batch_size=2, process_index=p,
                         process_count=2) for p in range(2)]
  # 3 files over 2 processes: 7 and 3 records; both yield ceil(7 / 2) = 4 batches.
  lens = [len(list(p)) for p in pipes]
  assert lens == [4, 4]
  names = [n for p in pipes for b in p for n, v in zip(b["name"], b["valid"]) if v]
  assert sorted(names) == sorted(s[2].encode() for s in data["test"])


def test_missing_data_raises(tmp_path, data):
  with pytest.raises(DataError):
    InputPipeline(_config(str(tmp_path)), "train", train=True, batch_size=2, process_index=0,
                  process_count=1)
  with pytest.raises(DataError):
    InputPipeline(_config(data["dir"], num_joints=20), "train", train=True, batch_size=2,
                  process_index=0, process_count=1)
  with pytest.raises(DataError):
    InputPipeline(_config(data["dir"]), "nosuchsplit", train=True, batch_size=2, process_index=0,
                  process_count=1)


def test_2d_data_rotates_in_plane_and_keeps_scores(tmp_path):
  rng = np.random.default_rng(4)
  root = str(tmp_path)
  samples = []
  with tf.io.TFRecordWriter(os.path.join(root, records.shard_name("train", 0, 1))) as w:
    for i in range(4):
      kp = rng.uniform(-0.5, 0.5, size=(2, (1, 25, 30, 35)[i], 18, 3)).astype(np.float32)  # T=1 too
      kp[..., 2] = rng.uniform(0.1, 1.0, size=kp.shape[:-1])  # OpenPose scores
      samples.append(kp)
      w.write(records.serialize(kp, i, f"K{i}"))
  info = {"dataset": "kinetics_skeleton", "num_classes": 4, "num_joints": 18, "channels": 3,
          "max_persons": 2, "bone_pairs": [(1, 2), (3, 2)], "protocols": {"": {"train": 4}}}
  with open(os.path.join(root, records.INFO_FILE), "w") as f:
    json.dump(info, f)
  cfg = _config(root, num_joints=18, normalize="none", crop_ratio=(1.0, 1.0), rotation=0.3)
  pipe = InputPipeline(cfg, "train", train=True, batch_size=4, process_index=0, process_count=1)
  assert pipe.coord_dims == 2
  b = next(pipe)
  for x, name in zip(b["inputs"], b["name"]):
    ref = _ref_resize(samples[int(name[1:])].astype(np.float64), 16)
    np.testing.assert_allclose(x[..., 2], ref[..., 2], atol=1e-5)  # score untouched
    np.testing.assert_allclose(np.linalg.norm(x[..., :2], axis=-1),
                               np.linalg.norm(ref[..., :2], axis=-1), atol=1e-5)  # in-plane
    assert not np.allclose(x[..., :2], ref[..., :2], atol=1e-3)
  with pytest.raises(DataError):
    InputPipeline(_config(root, num_joints=18, normalize="pyskl"), "train", train=True,
                  batch_size=2, process_index=0, process_count=1)


def test_state_with_other_global_batch_keeps_sample_count(data):
  pipe = InputPipeline(_config(data["dir"]), "train", train=True, batch_size=2, process_index=0,
                       process_count=1)
  with pytest.warns(UserWarning):
    pipe.set_state({"batches": 6, "seed": 0, "global_batch": 4})
  assert pipe.get_state() == {"batches": 12, "seed": 0, "global_batch": 2}


def test_nwucla_recipe_minmax_and_view_rotation(data):
  """CTR-GCN's NW-UCLA feeder: each axis of the whole sequence to [-1, 1] after the geometry.
  With 96 >= every sample's frames, uniform sampling keeps every frame, so each axis of an eval
  sample spans exactly [-1, 1]; training views (rotated up to 60 degrees) stay inside it."""
  cfg = _config(data["dir"], normalize="nwucla", sampling="uniform", num_frames=96, minmax=True,
                rotation=math.radians(60), rotation_axes="xy", scale=0.5, max_persons=1)
  pipe = InputPipeline(cfg, "test", train=False, batch_size=5, process_index=0, process_count=1)
  for b in pipe:
    for x in b["inputs"][b["valid"]]:
      present = x[0][np.any(x[0] != 0, axis=(1, 2))].reshape(-1, 3)
      np.testing.assert_allclose(present.min(0), -1.0, atol=1e-5)
      np.testing.assert_allclose(present.max(0), 1.0, atol=1e-5)
  train = _take(InputPipeline(cfg, "train", train=True, batch_size=5, process_index=0, process_count=1), 3)
  for b in train:
    assert np.abs(b["inputs"]).max() <= 1.0 + 1e-5
    assert np.abs(b["inputs"]).max() > 0.99
