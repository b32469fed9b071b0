"""Errors of the data side, and the one-line hint shown when prepared records are missing."""
from __future__ import annotations

from typing import Any


class DataError(Exception):
  """Data that cannot be used as asked: missing prepared records, unreadable shards, bad layout."""


class FormatError(DataError):
  """A raw input file that does not follow its dataset's format; the message is the reason."""


# What `--raw_dir` must point at, per dataset (datasets.md, "as released").
RAW_DIR_HINT = {
    "ntu60": "<NTU skeletons folder>",
    "ntu120": "<NTU skeletons folder>",
    "nwucla": "<NW-UCLA all_sqe folder>",
    "kinetics_skeleton": "<folder with kinetics_{train,val}/ and kinetics_{train,val}_label.json>",
    "ntu60_video": "<folder with nturgb+d_rgb/ and/or nturgb+d_depth_masked/>",
    "ntu120_video": "<folder with nturgb+d_rgb/ and/or nturgb+d_depth_masked/>",
    "isogd": "<IsoGD folder with {train,valid,test}/ and the list files>",
    "video_list": "<video root> --list_file train=<list> --list_file test=<list>",
}


def missing_data_message(config: Any) -> str:
  """One line naming what is missing and the `actionjax prepare` command that makes it."""
  data = config.data
  dataset = data.dataset or data.synthetic or "<dataset>"
  what = f"{dataset}/{data.protocol}" if data.protocol else dataset
  out_dir = data.dir or "<DIR>"
  raw = RAW_DIR_HINT.get(dataset, "<raw data folder>")
  return (f"no prepared records for {what} under {out_dir}; run: actionjax prepare {dataset}"
          f" --raw_dir {raw} --out_dir {out_dir}")
