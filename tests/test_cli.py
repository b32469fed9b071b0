"""The `actionjax` command end to end in subprocesses: one-line errors, SIGTERM preemption,
evaluate/ensemble outputs, and a two-process (multi-host) run on localhost."""
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import tiny_data
from xla_env import xla_flags

TESTS = os.path.dirname(os.path.abspath(__file__))


def write_config(tmp_path, data_dir, **train):
  path = tmp_path / "cfg.py"
  path.write_text(f"import sys\nsys.path.insert(0, {TESTS!r})\nimport tiny_data\nVARIANTS = ('tiny',)\n"
                  f"def get_config(arg='tiny'):\n  return tiny_data.config({data_dir!r}, **{train!r})\n")
  return f"{path}:tiny"


def env(devices=8):
  e = dict(os.environ)
  e["XLA_FLAGS"] = xla_flags(devices)
  e["TF_CPP_MIN_LOG_LEVEL"] = "3"
  return e


def cli(*args, devices=8, timeout=300):
  return subprocess.run([sys.executable, "-m", "actionjax.cli", *args], capture_output=True, text=True,
                        env=env(devices), timeout=timeout)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return tiny_data.write(str(tmp_path_factory.mktemp("tiny")))


def test_errors_are_one_line(tmp_path, data_dir):
  cfg = write_config(tmp_path, data_dir)
  r = cli("train", "--config", cfg.replace(":tiny", ":huge"), "--workdir", str(tmp_path / "w"))
  assert r.returncode == 2 and "unknown variant 'huge'" in r.stderr and "variants: tiny" in r.stderr
  assert "Traceback" not in r.stderr
  r = cli("train", "--config", cfg, "--workdir", str(tmp_path / "w"), "--config.train.batch_size=12")
  assert r.returncode == 2 and "train.batch_size=12 is not divisible" in r.stderr
  cfg_missing = write_config(tmp_path, str(tmp_path / "nothing"))
  r = cli("train", "--config", cfg_missing, "--workdir", str(tmp_path / "w"))
  assert r.returncode == 2 and "run: actionjax prepare" in r.stderr, r.stderr
  assert len(r.stderr.strip().splitlines()[-1]) > 20
  r = cli("--debug", "train", "--config", cfg_missing, "--workdir", str(tmp_path / "w"))
  assert r.returncode != 0 and "Traceback" in r.stderr
  r = cli("evaluate", "--workdir", str(tmp_path / "empty"))
  assert r.returncode == 2 and "config.json" in r.stderr


def test_sigterm_saves_and_exits_zero(tmp_path, data_dir):
  cfg = write_config(tmp_path, data_dir, num_steps=100000, checkpoint_every_steps=100000, log_every_steps=1)
  work = tmp_path / "w"
  proc = subprocess.Popen([sys.executable, "-m", "actionjax.cli", "train", "--config", cfg, "--workdir", str(work),
                           "--quiet"], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and not (work / "metrics.jsonl").exists() or (
      (work / "metrics.jsonl").exists() and len(open(work / "metrics.jsonl").readlines()) < 3):
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.5)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err
  assert "SIGTERM: saved a checkpoint at step" in out + err
  steps = [int(s) for s in os.listdir(work / "checkpoints") if s.isdigit()]
  assert len(steps) == 1 and 3 <= steps[0] < 100000
  # and it resumes from there
  r = cli("train", "--config", cfg, "--workdir", str(work), "--quiet", f"--config.train.num_steps={steps[0] + 2}")
  assert r.returncode == 0 and "resumed from" in r.stdout + r.stderr and f"at step {steps[0] + 2}" in r.stdout


def test_evaluate_and_ensemble_cli(tmp_path, data_dir):
  cfg = write_config(tmp_path, data_dir, num_steps=4)
  for name in ("a", "b"):
    assert cli("train", "--config", cfg, "--workdir", str(tmp_path / name), "--quiet",
               f"--config.seed={ord(name)}").returncode == 0
    r = cli("evaluate", "--workdir", str(tmp_path / name))
    assert r.returncode == 0, r.stderr
  m = json.load(open(tmp_path / "a" / "eval" / "test" / "metrics.json"))
  assert {"top1", "top5", "mean_class_accuracy", "num_samples"} <= set(m) and m["num_samples"] == 16
  assert (tmp_path / "a" / "eval" / "test" / "confusion.png").exists()
  scores = [str(tmp_path / n / "eval" / "test" / "scores.npz") for n in ("a", "b")]
  r = cli("ensemble", "--scores", *scores, "--weights", "1", "1", "--out_dir", str(tmp_path / "ens"))
  assert r.returncode == 0, r.stderr
  fused = json.loads(r.stdout.strip().splitlines()[-1])
  za, zb = np.load(scores[0]), np.load(scores[1])
  order_b = {n: i for i, n in enumerate(zb["names"])}
  ref = za["logits"] + zb["logits"][[order_b[n] for n in za["names"]]]
  assert fused["top1"] == pytest.approx(float(np.mean(ref.argmax(1) == za["labels"])))


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def documented_launch() -> str:
  """The generic launch command of docs/launch.md, as a user copies it."""
  doc = pathlib.Path(TESTS).parent.joinpath("docs", "launch.md").read_text()
  block = re.search(r"<!-- tested by tests/test_cli.py::test_two_processes.*?-->\n```bash\n(.*?)```", doc, re.S)
  return block.group(1).replace("\\\n", " ")


def test_two_processes(tmp_path, data_dir):
  """docs/launch.md's generic command, word for word, with two processes on localhost."""
  cfg = write_config(tmp_path, data_dir, num_steps=4, checkpoint_every_steps=2, eval_every_steps=4)
  port = _free_port()
  work = tmp_path / "w"
  command = documented_launch()
  assert command.split()[:2] == ["actionjax", "train"]
  values = {"CONFIG": cfg, "WORKDIR": str(work), "HOST0:PORT": f"127.0.0.1:{port}", "N": "2"}
  args = [values.get(w, w) for w in command.split()[2:]]
  procs = [subprocess.Popen([sys.executable, "-m", "actionjax.cli", "train", *[str(i) if a == "I" else a for a in args],
                             "--quiet"], env=env(4), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=400) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outs[0][1][-3000:] + outs[1][1][-3000:]
  assert "finished at step 4" in outs[0][0] and "finished at step 4" not in outs[1][0]  # only process 0 logs
  lines = [json.loads(l) for l in open(work / "metrics.jsonl")]
  assert [l["step"] for l in lines if "train/loss" in l] == [3, 4]  # written once, by process 0
  ev = [l for l in lines if "eval/num_samples" in l]
  assert ev and ev[-1]["eval/num_samples"] == 16  # every test sample once, gathered from both processes
  assert sorted(int(s) for s in os.listdir(work / "checkpoints") if s.isdigit()) == [2, 4]
