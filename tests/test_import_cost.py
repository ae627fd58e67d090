"""``import krea_async`` stays cheap (issue 8: at most 1.5x ``import httpx``).

Rarely used parts are imported on first use: cattrs and the converter's hooks (the first
payload parsed), the webhook wiring and the job-event bus (``webhook_url=``), Redis
events, the bundled spec (``krea.models``, the first generation), the typed inputs and
the files module. The typed-method overloads are in ``methods.pyi``, never executed.
Each check runs in a fresh interpreter. Timings: ``python -m bench.import_time``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing

import krea_async

LAZY = [
    "cattrs",
    "krea_async._webhooks.events",
    "krea_async._webhooks.redis",
    "krea_async._jobs.wakeup",
    "krea_async._webhooks.receiver",
    "krea_async._spec.bundle",
    "krea_async._spec.inputs_runtime",
    "krea_async._generated.inputs",
    "krea_async.files",
    "asyncio",
]


def _run(code: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "KREA_WEBHOOK_URL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_import_and_a_client_leave_the_rarely_used_parts_unimported() -> None:
    code = (
        "import json, sys\n"
        f"lazy = {LAZY!r}\n"
        "import krea_async\n"
        "print(json.dumps([m for m in lazy if m in sys.modules]))\n"
        "krea_async.AsyncKrea(api_key='k')\n"
        "print(json.dumps([m for m in lazy if m in sys.modules]))\n"
    )
    after_import, after_client = (json.loads(line) for line in _run(code))
    assert after_import == []
    assert after_client == []


def test_every_public_name_resolves_to_its_module_object() -> None:
    code = (
        "import krea_async\n"
        "from krea_async import *\n"
        "from krea_async import RedisEvents, WebhookReceiver, ModelInfo, JobEvents\n"
        "import krea_async._webhooks.redis as r, krea_async._webhooks.receiver as w\n"
        "import krea_async._spec.bundle as s, krea_async._webhooks.events as e\n"
        "print(RedisEvents is r.RedisEvents, WebhookReceiver is w.WebhookReceiver,\n"
        "      ModelInfo is s.ModelInfo, JobEvents is e.JobEvents,\n"
        "      all(hasattr(krea_async, n) for n in krea_async.__all__))\n"
    )
    assert _run(code) == ["True True True True True"]
    for name in krea_async.__all__:
        obj = getattr(krea_async, name)
        # a class, not a typing alias (on 3.10, ``Callable[...]`` passes isinstance(type))
        if isinstance(obj, type) and typing.get_origin(obj) is None:
            assert (obj.__doc__ or "").strip(), name


def test_the_converter_is_built_once_on_first_use() -> None:
    code = (
        "import sys\n"
        "from krea_async import _converter, parse_job\n"
        "print('cattrs' in sys.modules)\n"
        'job = parse_job(b\'{"job_id": "j", "status": "completed", '
        '"created_at": "2026-01-01T00:00:00Z"}\')\n'
        "import cattrs\n"
        "print(job.job_id, isinstance(_converter.converter, cattrs.Converter),\n"
        "      _converter.converter is _converter.converter)\n"
    )
    assert _run(code) == ["False", "j True True"]
