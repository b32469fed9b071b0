"""Procedural skeleton animator writing genuine-format raw files (demo data and tests).

Each class actuates its own joints (shoulders, elbows, hips, knees, spine, neck) about its own
axes with its own amplitudes and frequencies; every sample varies them and adds body size, a
camera-dependent global rotation, an offset and joint jitter, so a model must learn the motion,
not a constant. The files carry the real formats' edge cases: 0-body frames, short-lived noise
bodies (so some frames hold three bodies), two actors for mutual classes, very short clips,
Kinetics clips without skeletons, frames without persons and missing joints.
"""
from __future__ import annotations

import json
import os
import string
from typing import Sequence

import numpy as np

from data_pipelines import splits

# Rest pose of the 25 NTU joints (0-based), metres, body frame: x left-right, y up, z forward,
# origin at the spine base.
_REST = np.array([
    (0, 0, 0), (0, .30, 0), (0, .58, 0), (0, .70, 0),
    (-.18, .52, 0), (-.20, .25, 0), (-.21, .02, 0), (-.21, -.06, 0),
    (.18, .52, 0), (.20, .25, 0), (.21, .02, 0), (.21, -.06, 0),
    (-.09, -.02, 0), (-.10, -.45, .02), (-.10, -.85, 0), (-.10, -.90, .08),
    (.09, -.02, 0), (.10, -.45, .02), (.10, -.85, 0), (.10, -.90, .08),
    (0, .50, 0), (-.21, -.14, 0), (-.18, -.08, .03), (.21, -.14, 0), (.18, -.08, .03),
], np.float64)
# Kinematic tree rooted at the spine base, listed parents-first.
_PARENT = {1: 0, 20: 1, 2: 20, 3: 2, 4: 20, 5: 4, 6: 5, 7: 6, 21: 7, 22: 7, 8: 20, 9: 8, 10: 9,
           11: 10, 23: 11, 24: 11, 12: 0, 13: 12, 14: 13, 15: 14, 16: 0, 17: 16, 18: 17, 19: 18}
_ORDER = [1, 20, 2, 3, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24, 12, 13, 14, 15, 16, 17, 18, 19]
# (joint, axis, largest amplitude in rad): the motions classes are built from.
_ACTUATORS = (
    (4, 0, 1.4), (4, 2, 0.7), (5, 0, 1.3), (8, 0, 1.4), (8, 2, 0.7), (9, 0, 1.3),
    (12, 0, 0.8), (13, 0, 1.0), (16, 0, 0.8), (17, 0, 1.0), (1, 0, 0.5), (1, 1, 0.6),
    (2, 0, 0.4), (2, 1, 0.6),
)
_CAMERA_YAW = {1: 0.0, 2: np.pi / 4, 3: -np.pi / 4}  # NTU cameras: front, +45 and -45 degrees
_BODY_ID_BASE = 72057594037927936  # 17 digits, as Kinect v2 writes them
# NW-UCLA's 20 Kinect-v1 joints taken from the 25 NTU ones (shoulder centre = spine shoulder).
_NWUCLA_JOINTS = [0, 1, 20, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
# OpenPose-18 from NTU joints; eyes and ears are offsets from the head.
_OPENPOSE_JOINTS = [3, 20, 8, 9, 10, 4, 5, 6, 16, 17, 18, 12, 13, 14, 3, 3, 3, 3]
_OPENPOSE_OFFSET = np.zeros((18, 3))
_OPENPOSE_OFFSET[14:] = [(.03, .03, 0), (-.03, .03, 0), (.07, 0, 0), (-.07, 0, 0)]

_JOINT_LINE = " ".join(["%.7g"] * 11) + " %d\r\n"
_JOINT_BLOCK = _JOINT_LINE * 25


def _rotation(axis: int, angle: np.ndarray) -> np.ndarray:
  """(..., 3, 3) rotations about coordinate axis 0, 1 or 2."""
  c, s = np.cos(angle), np.sin(angle)
  r = np.zeros(np.shape(angle) + (3, 3))
  i, j = [(1, 2), (0, 2), (0, 1)][axis]
  r[..., axis, axis] = 1
  r[..., i, i], r[..., j, j] = c, c
  r[..., i, j], r[..., j, i] = -s, s
  return r


def class_motion(label: int, num_actuators: int = 2, seed: int = 0) -> list[tuple]:
  """The class's motion: [(joint, axis, amplitude, cycles per clip, phase)], fixed per label."""
  rng = np.random.default_rng([seed, 7919, label])
  picks = rng.choice(len(_ACTUATORS), num_actuators, replace=False)
  out = []
  for p in picks:
    joint, axis, top = _ACTUATORS[p]
    out.append((joint, axis, rng.uniform(0.5, 1.0) * top, rng.uniform(0.5, 3.0),
                rng.uniform(0, 2 * np.pi)))
  return out


def animate(motion: Sequence[tuple], num_frames: int, rng: np.random.Generator) -> np.ndarray:
  """Forward kinematics of one performance: float64 (T, 25, 3) in the body frame (metres)."""
  t = np.arange(num_frames) / max(num_frames, 1)
  local = {}
  for joint, axis, amp, cycles, phase in motion:
    amp *= rng.uniform(0.8, 1.2)
    cycles *= rng.uniform(0.9, 1.1)
    angle = amp * np.sin(2 * np.pi * cycles * t + phase + rng.uniform(-0.3, 0.3))
    r = _rotation(axis, angle)
    local[joint] = local[joint] @ r if joint in local else r
  eye = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
  rot = {0: eye}
  pos = np.zeros((num_frames, 25, 3))
  for v in _ORDER:
    p = _PARENT[v]
    pos[:, v] = pos[:, p] + rot[p] @ (_REST[v] - _REST[p])
    rot[v] = rot[p] @ local[v] if v in local else rot[p]
  return pos


def _place(pose: np.ndarray, rng: np.random.Generator, yaw: float, offset: np.ndarray) -> np.ndarray:
  """Body frame -> camera space: random size, rotation about the vertical axis, offset, jitter."""
  scale = rng.uniform(0.85, 1.15)
  turned = (scale * pose) @ _rotation(1, yaw + rng.uniform(-0.35, 0.35)).T
  drift = np.linspace(0, 1, len(pose))[:, None, None] * rng.normal(0, 0.05, 3)
  return turned + offset + drift + rng.normal(0, 0.005, pose.shape)


def _mutual_labels(num_classes: int, mutual: Sequence[int] | None, dataset: str) -> set[int]:
  """0-based labels performed by two actors: the real mutual actions, else the last fifth."""
  if mutual is not None:
    return set(mutual)
  real = {a - 1 for a in splits.NTU_MUTUAL_ACTIONS if a <= num_classes} if dataset == "ntu" else set()
  return real or set(range(num_classes - max(1, num_classes // 5), num_classes))


def perform(label: int, num_frames: int, rng: np.random.Generator, *, two_actors: bool,
            yaw: float = 0.0, seed: int = 0) -> list[np.ndarray]:
  """One or two actors' (T, 25, 3) camera-space joints for a sample of class `label`."""
  actors = []
  base = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.2, 0.2), rng.uniform(2.6, 3.4)])
  motions = [class_motion(label, seed=seed), class_motion(label + 100003, seed=seed)]
  for a in range(2 if two_actors else 1):
    side = np.array([0.45, 0, 0.1]) * (1 if a == 0 else -1) if two_actors else 0.0
    facing = (-0.8 if a == 0 else 0.8) if two_actors else 0.0
    actors.append(_place(animate(motions[a], num_frames, rng), rng, yaw + facing, base + side))
  return actors


def _frames(rng: np.random.Generator, num_frames: tuple[int, int], short_prob: float) -> int:
  if rng.random() < short_prob:
    return int(rng.integers(1, 9))
  return int(rng.integers(num_frames[0], num_frames[1] + 1))


# --- NTU ---------------------------------------------------------------------------------------

def ntu_names(num_classes: int, samples_per_class: int, dataset: str = "ntu60") -> list[tuple]:
  """[(name, label)]: cameras 1-3, performers in and out of the xsub list, even and odd setups,
  so every split of every protocol holds every class once samples_per_class >= 12."""
  max_setup = splits.NTU_LIMITS[dataset]["setup"]
  train_p = sorted(splits.NTU60_XSUB_TRAIN if dataset == "ntu60" else splits.NTU120_XSUB_TRAIN)
  test_p = [p for p in range(1, 41 if dataset == "ntu60" else 107) if p not in train_p]
  parity = [[s for s in range(1, max_setup + 1) if s % 2 == b] for b in (0, 1)]
  missing = splits.ntu_missing_names(dataset)
  out = []
  for label in range(num_classes):
    k = made = 0
    while made < samples_per_class:
      camera, performers, setups = k % 3 + 1, (train_p, test_p)[(k // 3) % 2], parity[(k // 6) % 2]
      rest = k // 12
      performer = performers[rest % len(performers)]
      setup = setups[(rest // len(performers)) % len(setups)]
      replication = (rest // (len(performers) * len(setups))) % 2 + 1
      name = f"S{setup:03d}C{camera:03d}P{performer:03d}R{replication:03d}A{label + 1:03d}"
      k += 1
      if name not in missing:
        out.append((name, label))
        made += 1
  return out


def _ntu_text(bodies_per_frame: list[list[tuple[int, np.ndarray]]], rng: np.random.Generator) -> str:
  """The `.skeleton` text: CRLF, 10 body fields, 25 joints of 12 fields each."""
  blocks = [xyz for bodies in bodies_per_frame for _, xyz in bodies]
  rows = iter(())
  if blocks:  # all joint fields at once: depth / colour pixels by pinhole projection
    xyz = np.stack(blocks)
    z = np.maximum(xyz[..., 2], 0.5)
    fields = np.concatenate([
        xyz, (256 + 365 * xyz[..., 0] / z)[..., None], (212 - 365 * xyz[..., 1] / z)[..., None],
        (960 + 1060 * xyz[..., 0] / z)[..., None], (540 - 1060 * xyz[..., 1] / z)[..., None],
        np.array([1.0, 0, 0, 0]) + rng.normal(0, 0.05, xyz.shape[:2] + (4,)),
        np.full(xyz.shape[:2] + (1,), 2.0)], -1)
    lean = rng.normal(0, 0.1, (len(blocks), 2)).tolist()
    rows = iter(zip(fields.reshape(len(blocks), -1).tolist(), lean))
  out = [f"{len(bodies_per_frame)}\r\n"]
  for bodies in bodies_per_frame:
    out.append(f"{len(bodies)}\r\n")
    for body_id, _ in bodies:
      values, (lean_x, lean_y) = next(rows)
      out.append(f"{body_id} 0 1 1 1 1 0 {lean_x:.6g} {lean_y:.6g} 2\r\n25\r\n")
      out.append(_JOINT_BLOCK % tuple(values))
  return "".join(out)


def ntu_sample_text(label: int, num_frames: int, rng: np.random.Generator, *, two_actors: bool,
                    camera: int = 1, edge_cases: bool = True, seed: int = 0) -> str:
  """One `.skeleton` file's text for a sample of class `label`."""
  actors = perform(label, num_frames, rng, two_actors=two_actors, yaw=_CAMERA_YAW[camera], seed=seed)
  first_id = _BODY_ID_BASE + int(rng.integers(0, 10**6))
  # Consecutive ids, as Kinect assigns them: they collide if parsed as float.
  frames = [[(first_id + a, actor[t]) for a, actor in enumerate(actors)] for t in range(num_frames)]
  if edge_cases and num_frames > 14 and rng.random() < 0.3:
    # A short-lived noise body (<= 11 frames), spread wide in x like a tracked object.
    start, life = int(rng.integers(0, num_frames - 10)), int(rng.integers(2, 11))
    centre = actors[0][start].mean(0)
    noise = centre + rng.normal(0, 1, (life, 25, 3)) * np.array([0.6, 0.1, 0.1])
    for i in range(life):
      frames[start + i].append((first_id + 7, noise[i]))
  if edge_cases and rng.random() < 0.2:
    empty = int(rng.integers(1, 4))  # 0-body frames at the start or the end
    frames = [[] for _ in range(empty)] + frames if rng.random() < 0.5 else frames + [[]] * empty
  return _ntu_text(frames, rng)


def write_ntu(out_dir: str, *, num_classes: int, samples_per_class: int, seed: int = 0,
              num_frames: tuple[int, int] = (50, 100), dataset: str = "ntu60",
              edge_cases: bool = True, short_prob: float = 0.02,
              mutual: Sequence[int] | None = None) -> list[str]:
  """Writes `.skeleton` files `SsssCcccPpppRrrrAaaa.skeleton`; returns their paths (sorted)."""
  os.makedirs(out_dir, exist_ok=True)
  two = _mutual_labels(num_classes, mutual, "ntu")
  paths = []
  for i, (name, label) in enumerate(ntu_names(num_classes, samples_per_class, dataset)):
    rng = np.random.default_rng([seed, i])
    camera = splits.parse_ntu_name(name)["camera"]
    text = ntu_sample_text(label, _frames(rng, num_frames, short_prob if edge_cases else 0), rng,
                           two_actors=label in two, camera=camera, edge_cases=edge_cases, seed=seed)
    path = os.path.join(out_dir, name + ".skeleton")
    with open(path, "w", newline="") as f:
      f.write(text)
    paths.append(path)
  return sorted(paths)


# --- NW-UCLA -----------------------------------------------------------------------------------

_NWUCLA_FRAME = "[" + ", ".join(["[%.6g, %.6g, %.6g]"] * 20) + "]"


def write_nwucla(out_dir: str, *, num_classes: int = 10, samples_per_class: int = 12, seed: int = 0,
                 num_frames: tuple[int, int] = (20, 60), edge_cases: bool = True,
                 short_prob: float = 0.03) -> list[str]:
  """Writes `aAA_sSS_eEE_vVV.json` files of the all_sqe release; views 1-3 cycle per class."""
  if not 1 <= num_classes <= len(splits.NWUCLA_ACTIONS):
    raise ValueError(f"NW-UCLA has at most {len(splits.NWUCLA_ACTIONS)} classes")
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for label in range(num_classes):
    action = splits.NWUCLA_ACTIONS[label]
    for k in range(samples_per_class):
      view, subject, episode = k % 3 + 1, (k // 3) % 10 + 1, k // 30
      name = f"a{action:02d}_s{subject:02d}_e{episode:02d}_v{view:02d}"
      rng = np.random.default_rng([seed, label, k])
      t = _frames(rng, num_frames, short_prob if edge_cases else 0)
      joints = perform(label, t, rng, two_actors=False, yaw=(view - 2) * np.pi / 4, seed=seed)[0]
      joints = joints[:, _NWUCLA_JOINTS]
      frames = ", ".join(_NWUCLA_FRAME % tuple(f.ravel().tolist()) for f in joints)
      path = os.path.join(out_dir, name + ".json")
      with open(path, "w") as f:
        f.write(f'{{"file_name": "{name}", "skeletons": [{frames}], "label": {label + 1}}}')
      paths.append(path)
  return sorted(paths)


# --- Kinetics-Skeleton -------------------------------------------------------------------------

def _clip_id(rng: np.random.Generator) -> str:
  alphabet = string.ascii_letters + string.digits + "-_"
  return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), 11))


def _openpose(actor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """(T, 25, 3) camera space -> normalised (T, 18, 2) image coordinates and (T, 18) scores."""
  xyz = actor[:, _OPENPOSE_JOINTS] + _OPENPOSE_OFFSET
  z = np.maximum(xyz[..., 2], 0.5)
  xy = np.stack([0.5 + 0.55 * xyz[..., 0] / z, 0.5 - 0.7 * xyz[..., 1] / z], -1)
  xy = np.clip(xy, 0, 1)
  score = rng.uniform(0.3, 1.0, xy.shape[:2])
  lost = rng.random(score.shape) < 0.05  # missing joints: score 0 and position 0
  score[lost] = 0
  xy[lost] = 0
  return xy, score


def kinetics_clip_json(label: int, label_name: str, num_frames: int, rng: np.random.Generator, *,
                       two_actors: bool, edge_cases: bool = True, seed: int = 0) -> str:
  """One clip's JSON (frame_index 1-based, persons with pose and score)."""
  actors = perform(label, num_frames, rng, two_actors=two_actors, seed=seed)
  people = [_openpose(a, rng) for a in actors]
  if edge_cases and rng.random() < 0.3:  # a low-score passer-by in some frames
    xy, score = _openpose(actors[0][::-1] + np.array([0.6, 0, 0.5]), rng)
    people.append((xy, score * 0.3))
  data = []
  for t in range(num_frames):
    if edge_cases and rng.random() < 0.05:
      data.append({"frame_index": t + 1, "skeleton": []})  # frame without a detected person
      continue
    skeleton = []
    for xy, score in people:
      skeleton.append({"pose": np.round(xy[t], 3).ravel().tolist(),
                       "score": np.round(score[t], 3).tolist()})
    data.append({"frame_index": t + 1, "skeleton": skeleton})
  return json.dumps({"data": data, "label": label_name, "label_index": label})


def write_kinetics(out_dir: str, *, num_classes: int, samples_per_class: int, seed: int = 0,
                   num_frames: tuple[int, int] = (30, 80), edge_cases: bool = True,
                   val_every: int = 4, no_skeleton_prob: float = 0.03,
                   mutual: Sequence[int] | None = None) -> list[str]:
  """Writes `kinetics_{train,val}/<id>.json` and `kinetics_{train,val}_label.json`; every
  `val_every`-th sample of a class goes to val. Returns the clip paths (sorted)."""
  two = _mutual_labels(num_classes, mutual, "kinetics")
  labels = {"train": {}, "val": {}}
  paths = []
  for release in labels:
    os.makedirs(os.path.join(out_dir, f"kinetics_{release}"), exist_ok=True)
  for label in range(num_classes):
    label_name = f"synthetic action {label}"
    for k in range(samples_per_class):
      rng = np.random.default_rng([seed, label, k])
      release = "val" if k % val_every == val_every - 1 else "train"
      clip = _clip_id(rng)
      if edge_cases and rng.random() < no_skeleton_prob:
        text, has = json.dumps({"data": [], "label": label_name, "label_index": label}), False
      else:
        t = _frames(rng, num_frames, 0.02 if edge_cases else 0)
        text, has = kinetics_clip_json(label, label_name, t, rng, two_actors=label in two,
                                       edge_cases=edge_cases, seed=seed), True
      path = os.path.join(out_dir, f"kinetics_{release}", clip + ".json")
      with open(path, "w") as f:
        f.write(text)
      labels[release][clip] = {"has_skeleton": has, "label": label_name, "label_index": label}
      paths.append(path)
  for release, content in labels.items():
    with open(os.path.join(out_dir, f"kinetics_{release}_label.json"), "w") as f:
      json.dump(dict(sorted(content.items())), f)
  return sorted(paths)


def write(dataset: str, out_dir: str, *, num_classes: int, samples_per_class: int, seed: int = 0,
          **kwargs) -> list[str]:
  """Dispatches to the writer of `dataset` (ntu60 | ntu120 | nwucla | kinetics_skeleton)."""
  if dataset in ("ntu60", "ntu120"):
    return write_ntu(out_dir, num_classes=num_classes, samples_per_class=samples_per_class,
                     seed=seed, dataset=dataset, **kwargs)
  if dataset == "nwucla":
    return write_nwucla(out_dir, num_classes=num_classes, samples_per_class=samples_per_class,
                        seed=seed, **kwargs)
  if dataset == "kinetics_skeleton":
    return write_kinetics(out_dir, num_classes=num_classes, samples_per_class=samples_per_class,
                          seed=seed, **kwargs)
  raise ValueError(f"no synthetic writer for {dataset!r}")
