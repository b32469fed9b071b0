"""Raw readers on hand-written files: every edge case of datasets.md, parsed independently."""
import json

import numpy as np
import pytest

from data_pipelines.errors import FormatError
from data_pipelines.formats import kinetics, ntu, nwucla

ID_A = 72057594037931101
ID_B = ID_A + 1  # a float64 cannot tell these apart


def joint_rows(seed, scale=1.0):
  rng = np.random.default_rng(seed)
  rows = rng.uniform(-1, 1, (25, 12)) * scale
  rows[:, 11] = 2
  return rows


def body_text(body_id, rows, nl="\r\n"):
  lines = [f"{body_id} 0 1 1 1 1 0 -0.437266 -0.0468689 2", str(len(rows))]
  lines += [" ".join(f"{v:.7g}" for v in row[:11]) + f" {int(row[11])}" for row in rows]
  return nl.join(lines) + nl


def skeleton_text(frames, nl="\r\n"):
  """frames: list of lists of (body_id, rows)."""
  out = f"{len(frames)}{nl}"
  for bodies in frames:
    out += f"{len(bodies)}{nl}" + "".join(body_text(b, r, nl) for b, r in bodies)
  return out


def expected_xyz(rows):
  return np.array([[float(f"{v:.7g}") for v in row[:3]] for row in rows], np.float32)


def sample_frames():
  a0, a1, b1, c1, a3 = (joint_rows(i) for i in range(5))
  # frame 0: body A; frame 1: no body; frame 2: A, B and a third body C; frame 3: A
  return [[(ID_A, a0)], [], [(ID_A, a1), (ID_B, b1), (5, c1)], [(ID_A, a3)]], (a0, a1, b1, c1, a3)


@pytest.mark.parametrize("nl", ["\r\n", "\n"])
def test_ntu_parses_crlf_empty_frames_three_bodies_and_int_ids(nl):
  frames, (a0, a1, b1, c1, a3) = sample_frames()
  assert float(ID_A) == float(ID_B)
  sk = ntu.parse_ntu(skeleton_text(frames, nl))
  assert sk.declared_frames == 4 and sk.num_frames == 3  # the 0-body frame is dropped
  assert [b.body_id for b in sk.bodies] == [ID_A, ID_B, 5]
  a, b, c = sk.bodies
  np.testing.assert_array_equal(a.frames, [0, 1, 2])
  np.testing.assert_array_equal(b.frames, [1])
  np.testing.assert_array_equal(c.frames, [1])
  assert a.joints.dtype == np.float32 and a.joints.shape == (3, 25, 3)
  np.testing.assert_array_equal(a.joints, np.stack([expected_xyz(r) for r in (a0, a1, a3)]))
  np.testing.assert_array_equal(b.joints[0], expected_xyz(b1))


def test_ntu_reads_files_with_crlf(tmp_path):
  frames, _ = sample_frames()
  path = tmp_path / "S001C001P001R001A001.skeleton"
  path.write_bytes(skeleton_text(frames).encode())
  assert b"\r\n" in path.read_bytes()
  assert len(ntu.read_ntu(str(path)).bodies) == 3


def bad(text, match):
  with pytest.raises(FormatError, match=match):
    ntu.parse_ntu(text)


def test_ntu_bad_inputs():
  frames, _ = sample_frames()
  good = skeleton_text(frames)
  bad("", "empty")
  bad("\r\n \r\n", "empty")
  bad(good[:len(good) // 2], "truncated")
  bad("3\r\n1\r\n", "truncated")
  bad(good.replace("\r\n25\r\n", "\r\n24\r\n", 1), "joint count")
  lines = good.split("\r\n")
  lines[4] = lines[4].replace(lines[4].split()[3], "abc", 1)  # a joint line of body A
  bad("\r\n".join(lines), "non-numeric")
  bad(good.replace(str(ID_B), "7.205759403793110e16"), "non-numeric body id")
  lines = good.split("\r\n")
  lines[5] = " ".join(lines[5].split()[:11])  # 11 fields
  bad("\r\n".join(lines), "fields")
  for value in ("nan", "inf", "-inf"):
    lines = good.split("\r\n")
    fields = lines[6].split()
    fields[1] = value  # y of a joint
    lines[6] = " ".join(fields)
    bad("\r\n".join(lines), "non-finite")
  bad("2\r\n0\r\n0\r\n", "no body")
  bad("x\r\n", "non-numeric frame count")


def test_ntu_nonfinite_in_non_coordinate_field_is_accepted():
  frames, _ = sample_frames()
  lines = skeleton_text(frames).split("\r\n")
  fields = lines[4].split()
  fields[8] = "nan"  # an orientation field: numeric, not stored
  lines[4] = " ".join(fields)
  assert ntu.parse_ntu("\r\n".join(lines)).num_frames == 3


def test_nwucla_reader(tmp_path):
  rng = np.random.default_rng(0)
  skel = rng.normal(size=(1, 20, 3))  # T = 1 occurs in the release
  content = {"file_name": "a01_s01_e00_v01", "skeletons": skel.tolist(), "label": 1}
  path = tmp_path / "a01_s01_e00_v01.json"
  path.write_text(json.dumps(content))
  sample = nwucla.read_nwucla(str(path))
  assert sample.label == 1 and sample.file_name == "a01_s01_e00_v01"
  np.testing.assert_array_equal(sample.skeletons, skel.astype(np.float32))
  text = json.dumps(content)
  for broken, match in [
      ("", "empty"), (text[:-20], "invalid JSON"),
      (json.dumps({**content, "skeletons": rng.normal(size=(3, 19, 3)).tolist()}), "joint count"),
      (json.dumps({**content, "skeletons": [[["a", 1, 2]] * 20]}), "non-numeric"),
      (text.replace(str(skel[0, 3, 1]), "NaN", 1), "non-finite"),
      (text.replace(str(skel[0, 3, 1]), "Infinity", 1), "non-finite"),
      (json.dumps({**content, "skeletons": []}), "shape"),
  ]:
    with pytest.raises(FormatError, match=match):
      nwucla.parse_nwucla(broken)


def kinetics_frame(index, persons):
  return {"frame_index": index, "skeleton": [
      {"pose": p[:, :2].ravel().tolist(), "score": p[:, 2].tolist()} for p in persons]}


def test_kinetics_reader_shifts_one_based_frame_index():
  rng = np.random.default_rng(1)
  p1, p2, p3 = (rng.uniform(0.1, 1, (18, 3)) for _ in range(3))
  clip = {"data": [kinetics_frame(1, [p1]), kinetics_frame(3, [p2, p3]), kinetics_frame(2, [])],
          "label": "flipping pancake", "label_index": 129}
  out = kinetics.parse_kinetics(json.dumps(clip))
  assert out.label == "flipping pancake" and out.label_index == 129
  assert out.data.shape == (kinetics.MAX_PERSONS_READ, 3, 18, 3)
  np.testing.assert_array_equal(out.data[0, 0], p1.astype(np.float32))  # frame_index 1 -> 0
  np.testing.assert_array_equal(out.data[:, 1], 0)
  np.testing.assert_array_equal(out.data[0, 2], p2.astype(np.float32))
  np.testing.assert_array_equal(out.data[1, 2], p3.astype(np.float32))


def test_kinetics_reads_at_most_five_persons():
  persons = [np.full((18, 3), 0.1 * (i + 1)) for i in range(7)]
  out = kinetics.parse_kinetics(json.dumps({"data": [kinetics_frame(1, persons)], "label_index": 0}))
  assert out.data.shape[0] == 5
  np.testing.assert_allclose(out.data[:, 0, 0, 0], [0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-6)


def test_kinetics_bad_inputs():
  p = np.full((18, 3), 0.5)
  good = {"data": [kinetics_frame(1, [p])], "label": "x", "label_index": 0}
  for clip, match in [
      ({**good, "data": [kinetics_frame(0, [p])]}, "frame_index 0"),
      ({**good, "data": [kinetics_frame(301, [p])]}, "frame_index 301"),
      ({**good, "data": [kinetics_frame(1, [np.full((17, 3), 0.5)])]}, "joint count"),
      ({**good, "data": []}, "no skeleton frames"),
      ({**good, "data": [{"frame_index": 1, "skeleton": [{"pose": ["a"] * 36, "score": [1] * 18}]}]},
       "non-numeric"),
  ]:
    with pytest.raises(FormatError, match=match):
      kinetics.parse_kinetics(json.dumps(clip))
  nan = json.dumps(good).replace("0.5", "NaN", 1)
  with pytest.raises(FormatError, match="non-finite"):
    kinetics.parse_kinetics(nan)
  with pytest.raises(FormatError, match="invalid JSON"):
    kinetics.parse_kinetics(json.dumps(good)[:30])
  with pytest.raises(FormatError, match="empty"):
    kinetics.parse_kinetics("")
