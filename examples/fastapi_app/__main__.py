"""Run the example on the embedded fake: ``python -m examples.fastapi_app``.

Starts a :class:`~krea_async.testing.FakeKrea` on a free loopback port (so the image
URLs it returns load in the browser) and the app on http://127.0.0.1:8080 (``--port``;
the README's fake serves on 8000);
the fake POSTs its webhooks to the app's ``/krea/webhooks``, so ``/api/render`` is woken
by them. With ``KREA_API_KEY`` set, it talks to the real Krea API instead (webhooks if
``KREA_WEBHOOK_URL`` is a public URL of this app's ``/krea/webhooks``). With
``KREA_OTEL_CONSOLE=1`` (and ``opentelemetry-sdk`` installed), each job's spans are
printed to the console (docs/content/observability.md).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from krea_async import AsyncKrea, WebhookSettings
from krea_async.testing import FakeKrea

from .app import create_app


def console_tracing() -> None:
    """Print every span to stdout: the OpenTelemetry SDK's console exporter."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def main() -> None:
    if os.environ.get("KREA_OTEL_CONSOLE") == "1":
        console_tracing()
    parser = argparse.ArgumentParser(prog="python -m examples.fastapi_app")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--time-scale", type=float, default=0.5, help="fake job speed")
    args = parser.parse_args()
    if os.environ.get("KREA_API_KEY"):
        app = create_app(AsyncKrea)
        uvicorn.run(app, host="127.0.0.1", port=args.port)
        return
    fake = FakeKrea(time_scale=args.time_scale, deliver_webhooks=True)
    with fake, fake.serve_in_thread() as fake_url:
        print(f"fake Krea API on {fake_url}")

        def krea() -> AsyncKrea:
            return AsyncKrea(
                api_key="fake-key",
                base_url=fake_url,
                allow_insecure_http=True,
                webhooks=WebhookSettings(url=f"http://127.0.0.1:{args.port}/krea/webhooks"),
            )

        app = create_app(krea)
        uvicorn.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
