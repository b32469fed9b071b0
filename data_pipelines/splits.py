"""Train / test assignment of every supported dataset, from sample names (datasets.md, "Splits").

NTU-60: cross-subject (xsub) by performer, cross-view (xview) by camera; NTU-120: xsub by performer,
cross-setup (xset) by setup parity. NW-UCLA: views 1 and 2 train, view 3 test. Samples listed in the
shipped missing-skeleton lists are excluded by every protocol.
"""
from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Iterable

NTU60_XSUB_TRAIN = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN | frozenset((
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89,
    91, 92, 93, 94, 95, 97, 98, 100, 103))
NTU_XVIEW_TRAIN_CAMERAS = frozenset((2, 3))

# Releases' id ranges: NTU-60 = S001-S017 / A001-A060, NTU-120 = S001-S032 / A001-A120.
NTU_LIMITS = {"ntu60": {"setup": 17, "action": 60}, "ntu120": {"setup": 32, "action": 120}}
NTU_MAX = {"setup": 32, "camera": 3, "performer": 106, "replication": 2, "action": 120}
NTU_PROTOCOLS = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}
NTU_MUTUAL_ACTIONS = frozenset(range(50, 61)) | frozenset(range(106, 121))

_NTU_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")

# NW-UCLA: actions a01-a06, a08, a09, a11, a12 are labels 1-10 (1-based in the files).
NWUCLA_ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
NWUCLA_CLASS_NAMES = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around",
                      "sit down", "stand up", "donning", "doffing", "throw", "carry")
NWUCLA_TRAIN_VIEWS = frozenset((1, 2))
_NWUCLA_NAME = re.compile(r"^a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})$")


def parse_ntu_name(name: str) -> dict[str, int] | None:
  """`SsssCcccPpppRrrrAaaa` -> {setup, camera, performer, replication, action}; None if malformed."""
  m = _NTU_NAME.match(name)
  if not m:
    return None
  return dict(zip(("setup", "camera", "performer", "replication", "action"), map(int, m.groups())))


def ntu_splits(dataset: str, ids: dict[str, int]) -> dict[str, str]:
  """{protocol: 'train' | 'test'} of one NTU sample."""
  train_performers = NTU60_XSUB_TRAIN if dataset == "ntu60" else NTU120_XSUB_TRAIN
  out = {"xsub": "train" if ids["performer"] in train_performers else "test"}
  if dataset == "ntu60":
    out["xview"] = "train" if ids["camera"] in NTU_XVIEW_TRAIN_CAMERAS else "test"
  else:
    out["xset"] = "train" if ids["setup"] % 2 == 0 else "test"
  return out


def parse_nwucla_name(name: str) -> dict[str, int] | None:
  """`aAA_sSS_eEE_vVV` -> {action, subject, episode, view}; None if malformed."""
  m = _NWUCLA_NAME.match(name)
  if not m:
    return None
  return dict(zip(("action", "subject", "episode", "view"), map(int, m.groups())))


def nwucla_split(ids: dict[str, int]) -> str:
  return "train" if ids["view"] in NWUCLA_TRAIN_VIEWS else "test"


@functools.cache
def _resource_lines(name: str) -> tuple[str, ...]:
  text = resources.files("data_pipelines").joinpath("resources", "ntu", name).read_text()
  return tuple(line.strip() for line in text.splitlines() if line.strip())


def ntu_available_names(dataset: str) -> tuple[str, ...]:
  """The samples of the release that have skeletons (shipped list)."""
  return _resource_lines(f"{dataset}_available_names.txt")


def ntu_missing_names(dataset: str) -> frozenset[str]:
  """Samples whose skeletons are missing in the release; excluded by every protocol."""
  return frozenset(_resource_lines(f"{dataset}_missing_skeletons.txt"))


def ntu_class_names(dataset: str) -> tuple[str, ...]:
  names = tuple(n.rstrip(".") for n in _resource_lines("ntu120_class_names.txt"))
  return names[:NTU_LIMITS[dataset]["action"]]


def count_ntu_splits(dataset: str, names: Iterable[str]) -> dict[str, dict[str, int]]:
  """{protocol: {'train': n, 'test': m}} over `names`, missing-skeleton samples left out."""
  missing = ntu_missing_names(dataset)
  counts = {p: {"train": 0, "test": 0} for p in NTU_PROTOCOLS[dataset]}
  for name in names:
    ids = parse_ntu_name(name)
    if ids is None or name in missing:
      continue
    for protocol, split in ntu_splits(dataset, ids).items():
      counts[protocol][split] += 1
  return counts
