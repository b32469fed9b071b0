"""TFDS video builders: from the raw tree `prepare` converts, the same samples, labels, ids and
encoded frames as `prepare`'s records, in-process and as a Beam pipeline (DirectRunner)."""
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from data_pipelines import builders, prepare, records, synthetic_video, video_records

_MODALITIES = ("rgb", "depth")


def _prepared(dataset, raw, out, protocol):
  """{split: {name: parsed record}} as `prepare` writes them for the same raw tree."""
  summary = prepare.prepare(dataset, raw, out, modalities=_MODALITIES, progress=False)
  return {split: {r["name"]: r for r in (video_records.parse_numpy(x) for x in tf.data.TFRecordDataset(
              records.split_files(out, protocol, split)).as_numpy_iterator())}
          for split in summary["protocols"][protocol]}


def _assert_same_as_prepare(builder, prepared, id_keys=()):
  """Split sizes, names, labels, ids, crops and byte-equal encoded frames (decoded values where
  the builder widened 8-bit depth PNGs to 16 bits)."""
  assert {s for s, recs in prepared.items() if recs} == set(builder.info.splits.keys())
  skip = {m: tfds.decode.SkipDecoding() for m in _MODALITIES}
  for split, expected in prepared.items():
    if not expected:
      continue
    assert builder.info.splits[split].num_examples == len(expected)
    got = {ex["name"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=split, decoders=skip))}
    assert got.keys() == expected.keys()
    for name, ex in got.items():
      rec = expected[name]
      assert ex["label"] == rec["label"] and ex["crop"].decode() == rec["crop"]
      np.testing.assert_array_equal(ex["crop_box"], rec["crop_box"])
      assert ex["num_frames"] == rec["rgb/num_frames"]
      assert all(ex[k] == rec[k] for k in id_keys)
      assert list(ex["rgb"]) == rec["rgb/encoded"]
      if rec["depth/bits"] == np.dtype(builder.info.features["depth"].np_dtype).itemsize * 8:
        assert list(ex["depth"]) == rec["depth/encoded"]
      else:  # NTU 8-bit depth PNGs: stored as 16-bit PNGs with the same values
        assert len(ex["depth"]) == len(rec["depth/encoded"])
        for a, b in zip(ex["depth"], rec["depth/encoded"]):
          np.testing.assert_array_equal(tf.io.decode_png(a, dtype=tf.uint16),
                                        tf.io.decode_png(b, dtype=tf.uint8))


def _assert_decodes(builder, prepared, split):
  """The default decoding gives the frames a pipeline decodes from prepare's records."""
  ex = next(iter(tfds.as_numpy(builder.as_dataset(split=split).take(1))))
  rec = prepared[split][ex["name"].decode()]
  assert ex["rgb"].dtype == np.uint8 and ex["rgb"].shape[-1] == 3
  np.testing.assert_array_equal(ex["rgb"][0], tf.io.decode_jpeg(rec["rgb/encoded"][0]))
  dtype = builder.info.features["depth"].np_dtype
  assert ex["depth"].dtype == dtype and ex["depth"].shape[-1] == 1
  np.testing.assert_array_equal(ex["depth"][-1],
                                tf.io.decode_png(rec["depth/encoded"][-1], dtype=tf.as_dtype(dtype)))


def test_ntu60_video_builder_matches_prepare(tmp_path):
  raw = str(tmp_path / "raw")
  made = synthetic_video.write_ntu_video(raw, num_classes=2, samples_per_class=6, seed=3,
                                         num_frames=(8, 12), size=(60, 80), edge_cases=True)
  prepared = _prepared("ntu60_video", raw, str(tmp_path / "records"), "xsub")
  assert sum(map(len, prepared.values())) < len(made["names"])  # edge cases are left out...
  assert made["edge"]["depth_8bit"] in prepared["train"] | prepared["test"]  # ... or kept
  assert "rose1.ntu.edu.sg" in builders.Ntu60Video.MANUAL_DOWNLOAD_INSTRUCTIONS

  # In-process generator, through the registered name.
  builder = tfds.builder("ntu60_video/xsub", data_dir=str(tmp_path / "tfds"))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=raw))
  assert not builder._use_beam
  assert builder.info.features["label"].num_classes == 60
  assert builder.info.features["depth"].np_dtype == np.uint16
  _assert_same_as_prepare(builder, prepared, id_keys=video_records.NTU_ID_KEYS)
  _assert_decodes(builder, prepared, "train")

  # Beam form: chosen because the download config names a runner. FnApiRunner is the in-process
  # engine of Beam's DirectRunner; "DirectRunner" itself first tries to download the Prism runner.
  beam_builder = builders.Ntu60Video(config="xsub", data_dir=str(tmp_path / "tfds_beam"))
  beam_builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=raw, beam_runner=FnApiRunner()))
  assert beam_builder._use_beam
  _assert_same_as_prepare(beam_builder, prepared, id_keys=video_records.NTU_ID_KEYS)


def test_isogd_builder_matches_prepare(tmp_path):
  raw = str(tmp_path / "raw")
  made = synthetic_video.write_isogd(raw, num_classes=2, samples_per_class=5, seed=1,
                                     num_frames=(6, 9), size=(48, 64), release_layout=True,
                                     unlabelled_valid=True)
  prepared = _prepared("isogd", raw, str(tmp_path / "records"), "")
  assert {s: len(r) for s, r in prepared.items()} == {s: len(e) for s, e in made["entries"].items()}
  assert {r["label"] for r in prepared["valid"].values()} == {-1}

  builder = builders.Isogd(config="rgbd", data_dir=str(tmp_path / "tfds"), beam=False)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=raw, beam_runner=FnApiRunner()))  # beam=False: in-process all the same
  assert not builder._use_beam
  assert builder.info.features["label"].num_classes == 249
  assert builder.info.features["depth"].np_dtype == np.uint8
  _assert_same_as_prepare(builder, prepared)
  _assert_decodes(builder, prepared, "test")
