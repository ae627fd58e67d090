"""The fake served the way the README shows it (``python -m krea_async.testing serve``),
in a subprocess on a free port: shared by the tests that run README and docs code."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``KREA_*`` variable, with the checkout
    on ``PYTHONPATH``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return {**env, **extra}


@contextlib.contextmanager
def served_fake(*options: str) -> Iterator[str]:
    """``python -m krea_async.testing serve --port 0 *options``; yields its base URL and
    stops it on exit."""
    server = subprocess.Popen(
        [sys.executable, "-m", "krea_async.testing", "serve", "--port", "0", *options],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = ""
        for line in server.stdout:
            if line.startswith("Base URL: "):
                base_url = line.split(": ", 1)[1].strip()
                break
        assert base_url.startswith("http://127.0.0.1:"), "the fake did not start"
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
