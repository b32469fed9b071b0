"""Split logic against the published counts, on the shipped name lists (datasets.md table)."""
import re

from data_pipelines import splits


def test_ntu60_counts_on_shipped_names():
  names = splits.ntu_available_names("ntu60")
  assert len(names) == 56578
  assert splits.count_ntu_splits("ntu60", names) == {
      "xsub": {"train": 40091, "test": 16487}, "xview": {"train": 37646, "test": 18932}}


def test_ntu120_counts_on_shipped_names():
  names = splits.ntu_available_names("ntu120")
  assert len(names) == 113945
  assert splits.count_ntu_splits("ntu120", names) == {
      "xsub": {"train": 63026, "test": 50919}, "xset": {"train": 54468, "test": 59477}}


def test_missing_samples_are_excluded_from_counts():
  missing = sorted(splits.ntu_missing_names("ntu60"))
  assert len(missing) == 302 and len(splits.ntu_missing_names("ntu120")) == 535
  assert splits.ntu_missing_names("ntu60") <= splits.ntu_missing_names("ntu120")
  counts = splits.count_ntu_splits("ntu60", missing)
  assert counts == {"xsub": {"train": 0, "test": 0}, "xview": {"train": 0, "test": 0}}


def test_split_rules_by_hand():
  ids = splits.parse_ntu_name("S018C001P045R002A107")
  assert ids == {"setup": 18, "camera": 1, "performer": 45, "replication": 2, "action": 107}
  assert splits.ntu_splits("ntu120", ids) == {"xsub": "train", "xset": "train"}
  ids = splits.parse_ntu_name("S017C002P003R001A010")
  assert splits.ntu_splits("ntu60", ids) == {"xsub": "test", "xview": "train"}
  assert splits.ntu_splits("ntu120", ids) == {"xsub": "test", "xset": "test"}
  assert splits.parse_ntu_name("S001C001P001R001A01") is None
  assert splits.parse_nwucla_name("a12_s03_e04_v03") == {"action": 12, "subject": 3, "episode": 4,
                                                         "view": 3}
  assert splits.nwucla_split({"view": 2}) == "train" and splits.nwucla_split({"view": 3}) == "test"


def test_xsub_training_lists_match_the_reference_text():
  # Independent source: the lists as written in datasets.md.
  ntu60 = "1 2 4 5 8 9 13 14 15 16 17 18 19 25 27 28 31 34 35 38"
  extra = ("45 46 47 49 50 52 53 54 55 56 57 58 59 70 74 78 80 81 82 83 84 85 86 89 91 92 93 94 95"
           " 97 98 100 103")
  assert splits.NTU60_XSUB_TRAIN == {int(p) for p in ntu60.split()}
  assert splits.NTU120_XSUB_TRAIN == {int(p) for p in (ntu60 + " " + extra).split()}


def test_class_names():
  names60, names120 = splits.ntu_class_names("ntu60"), splits.ntu_class_names("ntu120")
  assert len(names60) == 60 and len(names120) == 120 and names120[:60] == names60
  assert names60[0] == "drink water"
  assert all(re.fullmatch(r"a\d\d", f"a{a:02d}") for a in splits.NWUCLA_ACTIONS)
  assert len(splits.NWUCLA_CLASS_NAMES) == 10
