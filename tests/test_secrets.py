"""No secret in any file a run writes: redaction by key and by value, and wandb never sees the raw command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from coso.training.run_logger import REDACTED, redact_secrets, redact_text

REPO_ROOT = Path(__file__).resolve().parent.parent

# planted secrets: each must be in no file of the run directory or of the wandb directory
URL_PASSWORD = "hunter2UrlPw"
BEARER = "bearerTok0x5eed"
BASIC = "YWxpY2U6QmFzaWNQdw"
KEYED = "apiKey0x5eed"
HF_TOKEN = "hf_" + "Q" * 30
ENV_KEY = "envGeminiKey0x5eed"
SECRETS = (URL_PASSWORD, BEARER, BASIC, KEYED, HF_TOKEN, ENV_KEY)


def test_values_are_redacted_whatever_their_key() -> None:
    cases = {
        f"https://alice:{URL_PASSWORD}@appium.example/wd/hub": "https://alice:<redacted>@appium.example/wd/hub",
        f"Bearer {BEARER}": "Bearer <redacted>",
        f"Authorization: Basic {BASIC}": "Authorization: <redacted>",
        f'{{"Authorization": "Bearer {BEARER}"}}': '{"Authorization": "<redacted>"}',
        f"http://host/act?api_key={KEYED}&n=1": "http://host/act?api_key=<redacted>&n=1",
        f"+env.android.api_key={KEYED}": "+env.android.api_key=<redacted>",
        f"judge.note={HF_TOKEN}": "judge.note=<redacted>",
    }
    for text, expected in cases.items():
        assert redact_text(text) == expected
    for harmless in ("http://127.0.0.1:7860/act", "train.max_new_tokens=40", "a basic setting", "scale=smoke"):
        assert redact_text(harmless) == harmless
    config = {"env": {"headers": {"Authorization": f"Bearer {BEARER}"}, "url": f"http://u:{URL_PASSWORD}@h/"},
              "agent": {"max_new_tokens": 128, "notes": [f"Bearer {BEARER}"]}}
    assert redact_secrets(config) == {"env": {"headers": {"Authorization": REDACTED}, "url": "http://u:<redacted>@h/"},
                                      "agent": {"max_new_tokens": 128, "notes": ["Bearer <redacted>"]}}


def test_redaction_is_linear_on_long_strings() -> None:
    start = time.perf_counter()
    for text in ("a" * 1_000_000, "ab.:" * 250_000, "x://" * 250_000, "Bearer " * 150_000):
        redact_text(text)
    assert time.perf_counter() - start < 3.0


def test_no_planted_secret_in_any_file_of_a_tiny_run(tmp_path) -> None:
    run_dir, wandb_dir = tmp_path / "run", tmp_path / "wandb"
    overrides = [
        f"agent.cogagent.url=https://alice:{URL_PASSWORD}@appium.example:4723/act",  # a URL with user:password@
        f'+env.gemini.headers={{Authorization: "Bearer {BEARER}"}}',  # an Authorization header
        f"+agent.cogagent.note=Authorization: Basic {BASIC}",  # a header inside free text
        f"+env.android.api_key={KEYED}",  # a secret-looking key
        f"+env.android.hub={HF_TOKEN}",  # a known token format under a harmless key
    ]
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(wandb_dir), WANDB_SILENT="true",
               GEMINI_API_KEY=ENV_KEY, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    wandb_dir.mkdir()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "run.py"), "--config-name", "eval_only", "policy=expert",
         "scale=smoke", "train.eval_episodes=1", "logging.progress=false", f"save_path={run_dir}", *overrides],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    written = [path for root in (run_dir, wandb_dir) for path in root.rglob("*") if path.is_file()]
    assert (run_dir / "config.yaml") in written
    wandb_files = [path for path in written if wandb_dir in path.parents]
    assert any(path.suffix == ".wandb" for path in wandb_files), "wandb wrote its offline run file"
    leaks = [(str(path), secret) for path in written for secret in SECRETS if secret.encode() in path.read_bytes()]
    assert not leaks
    assert REDACTED in (run_dir / "config.yaml").read_text()
    run_file = next(path for path in wandb_files if path.suffix == ".wandb").read_bytes()
    assert b"alice:<redacted>@appium.example" in run_file  # the arguments wandb records are the redacted ones
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)
