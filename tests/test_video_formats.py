"""Video readers on genuine-format synthetic trees: decoding against an independent PyAV loop,
16-bit PNG, natural frame order, truncated / corrupt / empty videos, NTU listing and person
crops, IsoGD and generic lists (video_data.md, reference/video.md)."""
import io
import os
import pickle
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from data_pipelines import splits, synthetic_video
from data_pipelines.errors import DataError, FormatError
from data_pipelines.formats import catalog, isogd, ntu_video, video, video_catalog, video_list

SIZE = (120, 160)


@pytest.fixture(scope="module")
def ntu_tree(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("ntu_video"))
  info = synthetic_video.write_ntu_video(root, num_classes=3, samples_per_class=6, seed=1,
                                         size=SIZE, num_frames=(30, 40))
  return root, info


@pytest.fixture(scope="module")
def isogd_tree(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("isogd"))
  info = synthetic_video.write_isogd(root, num_classes=3, samples_per_class=5, seed=2,
                                     size=SIZE, release_layout=True)
  return root, info


@pytest.fixture(scope="module")
def list_tree(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("video_list"))
  info = synthetic_video.write_video_list(root, num_classes=2, samples_per_class=4, seed=3,
                                          size=SIZE, label_base=1)
  return root, info


def plain_decode(path, fmt="rgb24"):
  """Independent reference: single-threaded PyAV loop."""
  with av.open(path) as c:
    return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def decode_jpeg(data):
  return np.asarray(Image.open(io.BytesIO(data)))


def decode_png(data):
  """PIL directly (16-bit greyscale opens as I;16 -> uint16), not the reader under test."""
  return np.asarray(Image.open(io.BytesIO(data)))


def ntu_converter(**options):
  return video_catalog.VideoConverter("ntu60_video", video_catalog.VideoOptions(**options))


def ntu_task(root, name, **options):
  tasks = {t.name: t for t in ntu_converter(**options).list_inputs(root).tasks}
  return tasks[name]


def normal_names(info):
  edge = set(info["edge"].values())
  return [n for n, _ in info["names"] if n not in edge]


def contains(outer, inner, tol=0):
  return (outer[0] <= inner[0] + tol and outer[1] <= inner[1] + tol and
          outer[2] >= inner[2] - tol and outer[3] >= inner[3] - tol)


# --- decoding ----------------------------------------------------------------------------------

def test_decode_equals_independent_loop(ntu_tree):
  root, info = ntu_tree
  name = normal_names(info)[0]
  path = os.path.join(root, "nturgb+d_rgb", f"{name}_rgb.avi")
  ours = list(video.decode_video(path))
  ref = plain_decode(path)
  assert len(ours) == len(ref) == info["frames"][name]
  assert all(np.array_equal(a, b) for a, b in zip(ours, ref))
  assert ours[0].dtype == np.uint8 and ours[0].shape == SIZE + (3,)
  probe = video.probe_video(path)
  assert (probe.height, probe.width, probe.fps, probe.announced) == SIZE + (30.0, len(ref))
  # Resizing inside the decoder's converter matches a resize of the full frame closely.
  small = list(video.decode_video(path, size=(60, 80)))
  pil = [np.asarray(Image.fromarray(f).resize((80, 60), Image.BILINEAR)) for f in ref]
  assert small[0].shape == (60, 80, 3)
  assert np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(small, pil)]) < 3


@pytest.mark.parametrize("codec", ["h264", "mpeg4"])
def test_frames_come_in_display_order_despite_scrambled_pts(tmp_path, codec):
  frames = []
  for i in range(24):  # frame i: a white bar at column 4 i
    f = np.zeros((48, 96, 3), np.uint8)
    f[:, 4 * i:4 * i + 4] = 255
    frames.append(f)
  path = str(tmp_path / "order.avi")
  encoder = synthetic_video.write_video(path, frames, codec=codec)
  with av.open(path) as c:
    pts = [f.pts for f in c.decode(video=0)]
  if encoder == "libx264":  # B-frames in AVI: pts out of order, as in NTU's files
    assert pts != sorted(pts)
  bars = [int(np.argmax(f[24, :, 0] > 128)) // 4 for f in video.decode_video(path)]
  assert bars == list(range(24))


def test_truncated_corrupt_and_empty_videos_are_rejected(ntu_tree):
  root, info = ntu_tree
  rgb = lambda case: os.path.join(root, "nturgb+d_rgb", f"{info['edge'][case]}_rgb.avi")
  with pytest.raises(FormatError, match=r"truncated: decoded (\d+) of (\d+) frames announced") as e:
    list(video.decode_video(rgb("truncated")))
  got, announced = map(int, e.value.args[0].split("decoded ")[1].split(" frames")[0].split(" of "))
  assert got < announced == info["frames"][info["edge"]["truncated"]]
  with pytest.raises(FormatError, match=r"decoder: .*Invalid data.* after \d+ frames"):
    list(video.decode_video(rgb("decoder_error")))
  with pytest.raises(FormatError, match="no decodable frame"):
    list(video.decode_video(rgb("zero_frames")))
  garbage = os.path.join(root, "garbage.avi")
  with open(garbage, "wb") as f:
    f.write(os.urandom(2000))
  with pytest.raises(FormatError, match=r"decoder: .*Invalid data.* after 0 frames"):
    video.probe_video(garbage)
  # The converter raises the reason (prepare records it) instead of storing a short clip.
  conv = ntu_converter(modalities=("rgb",))
  tasks = {t.name: t for t in conv.list_inputs(root).tasks}
  for case, pattern in (("truncated", "truncated"), ("decoder_error", "decoder:"),
                        ("zero_frames", "no decodable frame")):
    with pytest.raises(FormatError, match=pattern):
      conv.convert(tasks[info["edge"][case]])


def test_corrupt_mpeg4_raises_with_frame_count(tmp_path):
  rng = np.random.default_rng(0)
  frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(12)]
  path = str(tmp_path / "m.avi")
  synthetic_video.write_video(path, frames, codec="mpeg4")
  assert len(list(video.decode_video(path))) == 12
  synthetic_video.corrupt(path, chunk=5)
  with pytest.raises(FormatError, match=r"decoder: .* after [0-5] frames"):
    list(video.decode_video(path))


# --- images ------------------------------------------------------------------------------------

@pytest.mark.parametrize("base", [0, 1])
def test_list_frame_files_natural_order(tmp_path, base):
  names = [f"img_{i}.jpg" for i in range(base, base + 12)]  # unpadded: img_10 < img_2 as text
  for n in names + ["notes.txt", "IMG_99.PNG", "x.jpeg.bak"]:
    (tmp_path / n).write_bytes(b"")
  got = [os.path.basename(p) for p in video.list_frame_files(str(tmp_path))]
  assert got == names + ["IMG_99.PNG"]
  assert video.natural_sorted(["MDepth-10.png", "MDepth-9.png", "MDepth-0.png"]) == [
      "MDepth-0.png", "MDepth-9.png", "MDepth-10.png"]


def test_read_image_exact_types(tmp_path):
  rng = np.random.default_rng(0)
  depth = rng.integers(0, 65536, (30, 40)).astype(np.uint16)
  Image.fromarray(depth).save(tmp_path / "d16.png")
  grey = rng.integers(0, 256, (30, 40)).astype(np.uint8)
  Image.fromarray(grey).save(tmp_path / "g8.png")
  rgb = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)
  Image.fromarray(rgb).save(tmp_path / "c.png")
  Image.fromarray(np.dstack([rgb, grey])).save(tmp_path / "rgba.png")
  got = video.read_image(str(tmp_path / "d16.png"))
  assert got.dtype == np.uint16 and np.array_equal(got, depth)
  got = video.read_image(str(tmp_path / "g8.png"))
  assert got.dtype == np.uint8 and got.shape == (30, 40) and np.array_equal(got, grey)
  assert np.array_equal(video.read_image(str(tmp_path / "c.png")), rgb)
  assert np.array_equal(video.read_image(str(tmp_path / "rgba.png")), rgb)
  data = (tmp_path / "d16.png").read_bytes()
  (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
  (tmp_path / "text.png").write_bytes(b"not an image")
  for bad in ("cut.png", "text.png"):
    with pytest.raises(FormatError, match="unreadable image"):
      video.read_image(str(tmp_path / bad))


def test_16bit_png_round_trip_through_tf():
  tf = pytest.importorskip("tensorflow")
  rng = np.random.default_rng(1)
  depth = rng.integers(0, 65536, (42, 51)).astype(np.uint16)
  depth[0, 0], depth[0, 1] = 0, 65535
  data = video.encode_png(depth)
  assert np.array_equal(tf.io.decode_png(data, dtype=tf.uint16).numpy()[..., 0], depth)
  assert np.array_equal(decode_png(data), depth)
  # Without dtype TF silently returns depth >> 8 (the pitfall the schema avoids).
  assert np.array_equal(tf.io.decode_png(data).numpy()[..., 0], (depth >> 8).astype(np.uint8))
  # PNGs written by TF read back exactly too.
  tf_png = tf.io.encode_png(depth[..., None]).numpy()
  assert np.array_equal(decode_png(tf_png), depth)


def test_resize_and_crop():
  assert video.resized_size(1080, 1920, 256) == (256, 455)
  assert video.resized_size(1920, 1080, 256) == (455, 256)
  assert video.resized_size(240, 320, 0) == (240, 320)
  assert video.resized_size(240, 320, 240) == (240, 320)
  depth = np.zeros((40, 60), np.uint16)
  depth[10:30, 20:40] = 3000
  depth[15:25, 25:35] = 2500
  out = video.crop_resize(depth, (10, 5, 50, 35), (64, 86), nearest=True)
  assert out.dtype == np.uint16 and out.shape == (64, 86)
  assert set(np.unique(out)) == {0, 2500, 3000}  # no value blended with the background
  rgb = np.zeros((40, 60, 3), np.uint8)
  rgb[:, 30:] = 200
  out = video.crop_resize(rgb, None, (20, 30), nearest=False)
  assert out.shape == (20, 30, 3) and out[0, 0, 0] == 0 and out[0, -1, 0] == 200
  assert np.array_equal(video.crop_resize(rgb, (30, 0, 60, 40), (40, 30), nearest=False), rgb[:, 30:])
  with pytest.raises(FormatError, match="outside"):
    video.crop_resize(rgb, (70, 0, 80, 10), (10, 10), nearest=False)
  with pytest.raises(FormatError, match="8-bit"):
    video.encode_jpeg(depth, 90)


def test_rgb_clip_crop_matches_decoded_frames(ntu_tree):
  root, info = ntu_tree
  path = os.path.join(root, "nturgb+d_rgb", f"{normal_names(info)[1]}_rgb.avi")
  ref = plain_decode(path)
  box = (30, 10, 110, 90)
  clip = video.rgb_clip_from_video(path, short_side=0, box=box, quality=95)
  assert (clip.encoding, clip.bits, clip.channels, clip.fps) == ("jpeg", 8, 3, 30.0)
  assert clip.num_frames == len(clip.frames) == len(ref)
  assert clip.orig_size == SIZE and clip.size == (80, 80)
  err = lambda dy, dx: np.mean([np.abs(decode_jpeg(d).astype(int) -
                                       full[10 + dy:90 + dy, 30 + dx:110 + dx]).mean()
                                for d, full in zip(clip.frames, ref)])
  assert err(0, 0) < 3 and err(0, 0) < 0.6 * min(err(0, 6), err(6, 0))
  small = video.rgb_clip_from_video(path, short_side=40, box=box, quality=95)
  assert small.size == (40, 40)
  want = lambda dy, dx: np.asarray(Image.fromarray(
      ref[3][10 + dy:90 + dy, 30 + dx:110 + dx]).resize((40, 40), Image.BILINEAR)).astype(int)
  err = lambda dy, dx: np.abs(decode_jpeg(small.frames[3]) - want(dy, dx)).mean()
  assert err(0, 0) < 6 and err(0, 0) < 0.8 * min(err(0, 6), err(6, 0))


# --- NTU ---------------------------------------------------------------------------------------

def _found(names, depth_missing=()):
  return ntu_video.Found({n: f"/r/{n}_rgb.avi" for n in names},
                         {n: f"/d/{n}" for n in names if n not in depth_missing},
                         {n: 1 for n in names}, [])


@pytest.mark.parametrize("dataset,table", [
    ("ntu60", {"xsub": (40091, 16487), "xview": (37646, 18932)}),
    ("ntu120", {"xsub": (63026, 50919), "xset": (54468, 59477)}),
])
def test_ntu_listing_split_counts_equal_the_skeleton_protocols(dataset, table):
  available = splits.ntu_available_names(dataset)
  missing = splits.ntu_missing_names(dataset)
  extra = ["S032C001P106R002A120"] if dataset == "ntu60" else []  # an NTU-120 sample
  listing = video_catalog.ntu_listing(dataset, _found(list(available) + sorted(missing) + extra),
                                      {}, ("rgb", "depth"))
  counts = {p: {"train": 0, "test": 0} for p in table}
  for t in listing.tasks:
    for protocol, split in t.splits:
      counts[protocol][split] += 1
  assert counts == {p: {"train": a, "test": b} for p, (a, b) in table.items()}
  assert counts == splits.count_ntu_splits(dataset, available)
  assert len(listing.skipped) == len(missing) + len(extra)
  assert listing.absent == 0 and not listing.rejected
  assert listing.class_names == list(splits.ntu_class_names(dataset))


def test_ntu_listing_modalities_and_absent():
  names = list(splits.ntu_available_names("ntu60")[:10])
  found = _found(names, depth_missing=names[:3])
  both = video_catalog.ntu_listing("ntu60", found, {}, ("rgb", "depth"))
  assert [r for _, r in both.rejected] == ["depth folder missing"] * 3
  assert len(both.tasks) == 7
  assert both.absent == len(splits.ntu_available_names("ntu60")) - 10  # rejected count as present
  rgb_only = video_catalog.ntu_listing("ntu60", found, {}, ("rgb",))
  assert len(rgb_only.tasks) == 10 and not rgb_only.rejected
  depth_only = video_catalog.ntu_listing("ntu60", found, {}, ("depth",))
  assert len(depth_only.tasks) == 7 and not depth_only.rejected
  assert depth_only.absent == len(splits.ntu_available_names("ntu60")) - 7
  found.depth_frames[names[5]] = 0
  empty = video_catalog.ntu_listing("ntu60", found, {}, ("rgb", "depth"))
  assert (found.depth[names[5]], "no MDepth-*.png in the depth folder") in empty.rejected


def test_ntu_listing_agrees_with_the_skeleton_converter(ntu_tree):
  root, info = ntu_tree
  listing = ntu_converter().list_inputs(root)
  skel = catalog.spec("ntu60").list_inputs(os.path.join(root, "nturgb+d_skeletons"))
  skel_tasks = {t.name: t for t in skel.tasks}
  assert (os.path.join(root, "nturgb+d_rgb", f"{info['edge']['missing_depth']}_rgb.avi"),
          "depth folder missing") in listing.rejected
  with_skeleton = [t for t in listing.tasks if t.skeleton]
  assert len(with_skeleton) == len(listing.tasks) - 1  # no_skeleton
  for t in with_skeleton:
    s = skel_tasks[t.name]
    assert (t.label, t.ids, t.splits) == (s.label, s.ids, s.splits)
  available = set(splits.ntu_available_names("ntu60"))
  present = {n for n, _ in info["names"]} & available  # tasks and the rejected missing_depth
  assert listing.absent == len(available) - len(present)


def test_ntu_file_names_are_checked(tmp_path):
  rgb = tmp_path / "nturgb+d_rgb"
  rgb.mkdir()
  for n in ("S001C001P001R001A001_rgb.avi", "S001C001P001R001A001.avi", "clip_rgb.avi",
            "S001C001P001R001A000_rgb.avi", "readme.txt"):
    (rgb / n).write_bytes(b"")
  listing = ntu_converter(modalities=("rgb",)).list_inputs(str(tmp_path))
  assert [t.name for t in listing.tasks] == ["S001C001P001R001A001"]
  reasons = {os.path.basename(p): r for p, r in listing.rejected}
  assert reasons["S001C001P001R001A001.avi"].startswith("file name does not match")
  assert reasons["clip_rgb.avi"].startswith("file name does not match")
  assert reasons["S001C001P001R001A000_rgb.avi"] == "action id 0 out of range 1..120"
  with pytest.raises(DataError, match="neither"):
    ntu_converter().list_inputs(str(tmp_path / "nturgb+d_rgb"))


def test_person_crop_from_skeleton_surrounds_the_drawn_person(ntu_tree):
  root, info = ntu_tree
  for name in normal_names(info)[:4]:
    sample = ntu_converter(short_side=64).convert(ntu_task(root, name))
    assert sample.crop == "skeleton" and not sample.notes
    drawn = info["rgb_box"][name]
    assert contains(sample.crop_box, drawn, tol=1), (sample.crop_box, drawn)
    box_w, box_h = sample.crop_box[2] - sample.crop_box[0], sample.crop_box[3] - sample.crop_box[1]
    assert max(box_w, box_h) <= 1.5 * max(drawn[2] - drawn[0], drawn[3] - drawn[1]) + 4
    assert min(sample.rgb.size) == 64 and sample.rgb.orig_size == SIZE
    # The depth crop comes from depthX / depthY: around the drawn depth silhouette.
    depth = ntu_converter(modalities=("depth",), short_side=-1).convert(ntu_task(root, name))
    assert depth.crop == "skeleton" and depth.depth.bits == 16
    assert contains(depth.crop_box, info["depth_box"][name], tol=1)
    first = decode_png(depth.depth.frames[0])
    assert first.dtype == np.uint16 and first.max() > 3000  # millimetres kept


def test_skeleton_pixels_keep_only_real_bodies(ntu_tree, tmp_path):
  root, info = ntu_tree
  name = normal_names(info)[0]
  path = os.path.join(root, "nturgb+d_skeletons", name + ".skeleton")
  colour, depth = ntu_video.skeleton_pixels(path)
  assert colour.shape == (25 * info["frames"][name], 2) == depth.shape
  # Colour pixels are 1920x1080 coordinates; scaled they fall on the drawn person.
  x0, y0, x1, y1 = info["rgb_box"][name]
  scaled = colour * (SIZE[1] / 1920, SIZE[0] / 1080)
  assert (scaled[:, 0] > x0 - 2).all() and (scaled[:, 0] < x1 + 2).all()
  assert (scaled[:, 1] > y0 - 2).all() and (scaled[:, 1] < y1 + 2).all()


def test_depth_mask_and_centre_fallbacks(ntu_tree, tmp_path):
  root, info = ntu_tree
  name = info["edge"]["no_skeleton"]
  sample = ntu_converter(short_side=-1).convert(ntu_task(root, name))
  assert sample.crop == "depth_mask" and "no skeleton file" in sample.notes
  drawn = info["rgb_box"][name]
  centre = ((drawn[0] + drawn[2]) / 2, (drawn[1] + drawn[3]) / 2)
  x0, y0, x1, y1 = sample.crop_box
  assert x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1
  depth = ntu_converter(modalities=("depth",), short_side=-1).convert(ntu_task(root, name))
  assert depth.crop == "depth_mask" and contains(depth.crop_box, info["depth_box"][name])
  # No skeleton and no depth folder: a centre square of the short side, recorded.
  name = info["edge"]["missing_depth"]
  sample = ntu_converter(modalities=("rgb",), short_side=-1).convert(
      ntu_task(root, name, modalities=("rgb",)))
  assert sample.crop == "centre" and sample.crop_box == (20, 0, 140, 120)
  assert sample.rgb.size == (120, 120) and "no skeleton file" in sample.notes
  # An unreadable skeleton falls back too, and says why.
  bad = tmp_path / "skel"
  bad.mkdir()
  good = normal_names(info)[0]
  (bad / f"{good}.skeleton").write_text("12\r\n1\r\n")
  sample = ntu_converter(skeleton_dir=str(bad)).convert(ntu_task(root, good, skeleton_dir=str(bad)))
  assert sample.crop == "depth_mask"
  assert any(n.startswith("skeleton unusable for the crop (truncated") for n in sample.notes)


def test_ntu_edge_cases_on_depth(ntu_tree):
  root, info = ntu_tree
  conv = ntu_converter(short_side=-1, crop="none")
  tasks = {t.name: t for t in conv.list_inputs(root).tasks}
  name = info["edge"]["depth_count"]
  sample = conv.convert(tasks[name])
  assert sample.rgb.num_frames == info["frames"][name]
  assert sample.depth.num_frames == info["depth_frames"][name] == info["frames"][name] - 3
  assert f"{sample.rgb.num_frames} RGB frames, {sample.depth.num_frames} depth frames" in sample.notes
  assert sample.crop == "none" and sample.crop_box is None
  assert sample.rgb.size == SIZE and sample.depth.size == info["depth_size"]
  # 0-based numbering: every PNG, in order, stored exactly (nearest, no crop).
  name = info["edge"]["zero_based"]
  folder = os.path.join(root, "nturgb+d_depth_masked", name)
  assert os.path.exists(os.path.join(folder, "MDepth-00000000.png"))
  sample = conv.convert(tasks[name])
  files = ntu_video.depth_files(folder)
  assert sample.depth.num_frames == len(files) == info["frames"][name]
  for data, f in zip(sample.depth.frames, files):
    assert np.array_equal(decode_png(data), video.read_image(f))
  # 8-bit depth PNGs: kept, recorded as 8 bits, noted.
  sample = conv.convert(tasks[info["edge"]["depth_8bit"]])
  assert sample.depth.bits == 8 and decode_png(sample.depth.frames[0]).dtype == np.uint8
  assert any("8-bit depth" in n for n in sample.notes)


# --- IsoGD -------------------------------------------------------------------------------------

def test_isogd_list_lines():
  assert isogd.parse_line("train/001/M_00001.avi train/001/K_00001.avi 26") == (
      "train/001/M_00001.avi", "train/001/K_00001.avi", 25)
  assert isogd.parse_line("valid/001/M_00001.avi\tvalid/001/K_00001.avi") == (
      "valid/001/M_00001.avi", "valid/001/K_00001.avi", -1)
  for line, reason in (("train/001/M_00001.avi", "1 columns"), ("a b 1 2", "4 columns"),
                       ("a b x", "not an integer"), ("a b 0", "out of range"),
                       ("a b 250", "out of range")):
    with pytest.raises(ValueError, match=reason):
      isogd.parse_line(line)


def test_isogd_listing_release_layout(isogd_tree):
  root, info = isogd_tree
  conv = video_catalog.VideoConverter("isogd", video_catalog.VideoOptions(short_side=-1))
  listing = conv.list_inputs(root)
  want = sorted(n for entries in info["entries"].values() for n, _ in entries)
  assert [t.name for t in listing.tasks] == want
  labels = {n: l for entries in info["entries"].values() for n, l in entries}
  assert all(t.label == labels[t.name] for t in listing.tasks)
  assert {t.splits[0][1] for t in listing.tasks} == {"train", "valid", "test"}
  list_path, line = info["missing_line"]
  assert listing.rejected == [(f"{list_path}:{line}", "train/999/M_99999.avi not found")]
  lines = sum(len(e) for e in info["entries"].values()) + 1
  assert listing.absent == sum(isogd.EXPECTED.values()) - lines
  assert len(listing.class_names) == 249 and listing.class_names[25] == "class_026"
  assert conv.splits == ("train", "valid", "test") and conv.protocols == ("",)
  assert conv.info()["depth_max"] == 255.0


def test_isogd_flat_layout_unlabelled_and_malformed(tmp_path):
  synthetic_video.write_isogd(str(tmp_path), num_classes=2, samples_per_class=5, seed=4,
                              size=(64, 96), num_frames=(8, 10), edge_cases=False,
                              unlabelled_valid=True)
  with open(tmp_path / "test_list.txt", "a") as f:
    f.write("test/001/M_00001.avi\r\ntest/001/M_00002.avi test/001/K_00002.avi 7 7\r\n"
            "test/001/M_00001.avi test/001/K_00001.avi 3\r\n")
  os.remove(tmp_path / "train" / "001" / "K_00002.avi")
  listing = isogd.list_isogd(str(tmp_path), ("rgb", "depth"))
  test_list = str(tmp_path / "test_list.txt")
  reasons = dict(listing.rejected)
  assert reasons[f"{test_list}:3"].startswith("1 columns")
  assert reasons[f"{test_list}:4"].startswith("4 columns")
  assert reasons[f"{test_list}:5"] == "test/001/M_00001.avi already listed at line 1"
  assert reasons[f"{tmp_path / 'train_list.txt'}:2"] == "train/001/K_00002.avi not found"
  assert listing.notes == [(str(tmp_path / "valid_list.txt"),
                            "labels missing in valid_list.txt (2 lines)")]
  valid = [e for e in listing.entries if e.split == "valid"]
  assert len(valid) == 2 and all(e.label == -1 for e in valid)
  rgb_only = isogd.list_isogd(str(tmp_path), ("rgb",))
  assert f"{tmp_path / 'train_list.txt'}:2" not in dict(rgb_only.rejected)
  with pytest.raises(DataError, match="no train_list.txt"):
    isogd.list_isogd(str(tmp_path / "train"), ("rgb",))


def test_isogd_convert_equals_independent_decode(isogd_tree):
  root, info = isogd_tree
  conv = video_catalog.VideoConverter("isogd", video_catalog.VideoOptions(short_side=-1))
  task = conv.list_inputs(root).tasks[0]
  sample = conv.convert(task)
  ref_rgb, ref_depth = plain_decode(task.rgb), plain_decode(task.depth, "rgb24")
  assert sample.rgb.num_frames == len(ref_rgb) and sample.depth.num_frames == len(ref_depth)
  assert (sample.depth.bits, sample.depth.channels, sample.depth.encoding) == (8, 1, "png")
  assert sample.crop == "none" and sample.rgb.size == SIZE
  for data, ref in zip(sample.rgb.frames, ref_rgb):
    assert np.abs(decode_jpeg(data).astype(int) - ref).mean() < 2
  for data, ref in zip(sample.depth.frames, ref_depth):
    got = decode_png(data)
    assert got.shape == SIZE and np.abs(got.astype(int) - ref[..., 1]).max() <= 2
  jpeg = video_catalog.VideoConverter("isogd", video_catalog.VideoOptions(
      short_side=-1, depth_format="jpeg")).convert(task)
  assert jpeg.depth.encoding == "jpeg" and decode_jpeg(jpeg.depth.frames[0]).shape == SIZE


# --- generic lists -----------------------------------------------------------------------------

def test_video_list_line_forms():
  assert video_list.parse_line("a/b.mp4 3") == ("a/b.mp4", -1, 3)
  assert video_list.parse_line("  a/b   55\t7  ") == ("a/b", 55, 7)
  assert video_list.parse_line("a/b 55 7", label_base=1) == ("a/b", 55, 6)
  for line, reason in (("a/b", "1 columns"), ("a 1 2 3", "4 columns"), ("a x", "non-integer"),
                       ("a 0", "below the label base"), ("a -3 1", "negative frame count")):
    with pytest.raises(ValueError, match=reason):
      video_list.parse_line(line, label_base=1 if reason.startswith("below") else 0)


def test_video_list_rawframes_with_depth(list_tree):
  root, info = list_tree
  conv = video_catalog.VideoConverter("video_list", video_catalog.VideoOptions(
      list_files=(("train", info["lists"]["rawframes_train"]), ("val", "rawframes_val.txt")),
      rgb_root="rawframes", depth_root=info["roots"]["depth"], label_base=1, short_side=-1))
  listing = conv.list_inputs(root)
  assert conv.splits == ("train", "val")
  want = info["entries"]["rawframes_train"] + info["entries"]["rawframes_val"]
  assert sorted((t.name, t.label) for t in listing.tasks) == sorted(want)
  assert listing.class_names == ["class_0", "class_1"]
  missing = {f"{info['lists'][k]}:{n}" for k, n in info["missing_lines"].items() if "rawframes" in k}
  assert {w for w, _ in listing.rejected} == missing
  assert all("c99/missing not found under" in r for _, r in listing.rejected)
  tasks = {t.name: t for t in listing.tasks}
  wrong = conv.convert(tasks[info["wrong_count"]])
  n = wrong.rgb.num_frames
  assert wrong.notes == (f"the list states {n + 5} frames, the source holds {n}",)
  other = next(name for name in tasks if name != info["wrong_count"])
  sample = conv.convert(tasks[other])
  assert not sample.notes and sample.rgb.fps == 0.0 and sample.depth.bits == 16
  files = video.list_frame_files(os.path.join(info["roots"]["rawframes"], other))
  assert sample.rgb.num_frames == len(files) == sample.depth.num_frames
  for data, f in zip(sample.rgb.frames, files):
    assert np.abs(decode_jpeg(data).astype(int) - video.read_image(f)).mean() < 2
  depth_files = video.list_frame_files(os.path.join(info["roots"]["depth"], other))
  assert np.array_equal(decode_png(sample.depth.frames[-1]), video.read_image(depth_files[-1]))


def test_video_list_video_files(list_tree):
  root, info = list_tree
  lists = {"train": info["lists"]["videos_train"], "val": info["lists"]["videos_val"]}
  conv = video_catalog.VideoConverter("video_list", video_catalog.VideoOptions(
      modalities=("rgb",), list_files=lists, rgb_root=info["roots"]["videos"], label_base=1,
      crop="centre"))
  listing = conv.list_inputs(root)
  want = info["entries"]["videos_train"] + info["entries"]["videos_val"]
  assert sorted((t.name, t.label) for t in listing.tasks) == sorted(want)
  assert all(r.endswith("c99/missing.mp4 not found under " + info["roots"]["videos"])
             for _, r in listing.rejected) and len(listing.rejected) == 2
  sample = conv.convert(listing.tasks[0])
  assert sample.crop == "centre" and sample.crop_box == (20, 0, 140, 120)
  assert sample.rgb.size == (256, 256) and sample.rgb.fps == 30.0
  assert sample.rgb.num_frames == len(plain_decode(listing.tasks[0].rgb))
  # 0-based reading of 1-based labels: the label-0 lines become rejects, not class -1.
  zero = video_catalog.VideoConverter("video_list", video_catalog.VideoOptions(
      modalities=("rgb",), list_files=lists, rgb_root=info["roots"]["videos"]))
  assert {t.label for t in zero.list_inputs(root).tasks} == {1, 2}
  with pytest.raises(DataError, match="depth root"):
    video_catalog.VideoConverter("video_list", video_catalog.VideoOptions(
        list_files=lists, rgb_root="videos")).list_inputs(root)


# --- converter ---------------------------------------------------------------------------------

def test_converter_properties_and_pickling():
  ntu = ntu_converter(modalities=("depth", "rgb"))
  assert ntu.options.modalities == ("rgb", "depth")
  assert ntu.protocols == ("xsub", "xview") and ntu.splits == ("train", "test")
  assert ntu.default_short_side == 256 == ntu.short_side and ntu.crop == "person"
  assert ntu.info()["depth_max"] == 4500.0 and ntu.info()["modalities"] == ["rgb", "depth"]
  n120 = video_catalog.VideoConverter("ntu120_video")
  assert n120.protocols == ("xsub", "xset") and len(n120.class_names) == 120
  iso = video_catalog.VideoConverter("isogd")
  assert iso.default_short_side == 240 and iso.crop == "none"
  native = video_catalog.VideoConverter("isogd", video_catalog.VideoOptions(short_side=-1))
  assert native.short_side == 0
  lst = video_catalog.VideoConverter("video_list", video_catalog.VideoOptions(
      list_files={"train": "a.txt", "val": "b.txt", "test": "c.txt"}))
  assert lst.splits == ("train", "val", "test") and lst.protocols == ("",)
  assert pickle.loads(pickle.dumps(lst)) == lst
  for bad in (dict(modalities=("rgb", "flow")), dict(crop="square"), dict(depth_format="tiff")):
    with pytest.raises(DataError):
      video_catalog.VideoOptions(**bad)
  with pytest.raises(DataError, match="person"):
    video_catalog.VideoConverter("isogd", video_catalog.VideoOptions(crop="person"))
  with pytest.raises(DataError, match="unknown video dataset"):
    video_catalog.VideoConverter("ntu60")


def test_workers_stay_free_of_tensorflow():
  code = ("import sys; from data_pipelines.formats import video_catalog; "
          "from data_pipelines import synthetic_video; "
          "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
