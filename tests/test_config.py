"""Config loading, overrides and validation: errors name the key before anything compiles."""
import pytest

from actionjax import config as config_lib
from actionjax.config import ConfigError

import tiny_data


def _cfg():
  return tiny_data.config("/nonexistent")


def test_override_types_and_unknown_keys():
  c = _cfg()
  config_lib.apply_overrides(c, ["--config.train.batch_size=64", "config.schedule.base_lr=0.5",
                                 "train.fsdp=true", "data.crop_ratio=[0.6, 1.0]", "model.name=tiny_classifier"])
  assert c.train.batch_size == 64 and c.schedule.base_lr == 0.5 and c.train.fsdp is True
  assert c.data.crop_ratio == (0.6, 1.0)
  with pytest.raises(ConfigError, match=r"unknown config key 'train.batchsize'.*known: .*batch_size"):
    config_lib.apply_overrides(c, ["train.batchsize=3"])
  with pytest.raises(ConfigError, match="'train.batch_size': expected int"):
    config_lib.apply_overrides(c, ["train.batch_size=big"])


def test_validation_names_the_key():
  c = _cfg()
  c.train.batch_size = 12
  with pytest.raises(ConfigError, match=r"train.batch_size=12 is not divisible by the data-parallel size 8"):
    config_lib.validate(c, 8)
  config_lib.validate(c, 4)
  c.train.dtype = "float16"
  with pytest.raises(ConfigError, match="train.dtype='float16' is not one of float32, bfloat16"):
    config_lib.validate(c, 4)
  c = _cfg()
  c.model.name = "resnet"
  with pytest.raises(ConfigError, match="model.name='resnet' is unknown; known: .*tiny_classifier"):
    config_lib.validate(c, 1)
  c = _cfg()
  c.mesh.model = 3
  with pytest.raises(ConfigError, match="does not fit 8 devices"):
    config_lib.validate(c, 8)


def test_load_file_and_variants(tmp_path):
  path = tmp_path / "cfg.py"
  path.write_text("import tiny_data\nVARIANTS = ('a', 'b')\n"
                  "def get_config(arg='a'):\n  c = tiny_data.config('/x')\n"
                  "  c.train.batch_size = 16 if arg == 'a' else 32\n  return c\n")
  assert config_lib.load(f"{path}:b").train.batch_size == 32
  assert config_lib.load(f"{path}:a", ["--config.train.num_steps=7"]).train.num_steps == 7
  with pytest.raises(ConfigError, match="unknown variant 'c' of .*; variants: a, b"):
    config_lib.load(f"{path}:c")
  with pytest.raises(ConfigError, match="not found"):
    config_lib.load(str(tmp_path / "missing.py"))
