"""Readers of the raw dataset releases, one module per format."""
from __future__ import annotations

import json

from data_pipelines.errors import FormatError


def load_json_object(text: str) -> dict:
  """The JSON object of one file; empty, truncated or non-object files raise FormatError."""
  if not text.strip():
    raise FormatError("empty file")
  try:
    content = json.loads(text)
  except ValueError as e:
    raise FormatError(f"invalid JSON (truncated?): {e}") from None
  if not isinstance(content, dict):
    raise FormatError("the file is not a JSON object")
  return content
