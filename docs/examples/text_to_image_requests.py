"""Krea's text-to-image example (Python, ``requests``), as in Krea's API docs.

Runs against the real API, or against the fake: set ``KREA_BASE_URL`` (default
``https://api.krea.ai``) and ``KREA_API_KEY``::

    python -m krea_async.testing serve --port 8000 &
    KREA_BASE_URL=http://127.0.0.1:8000 KREA_API_KEY=any python text_to_image_requests.py
"""

import os
import time

import requests

API_KEY = os.environ["KREA_API_KEY"]
BASE_URL = os.environ.get("KREA_BASE_URL", "https://api.krea.ai")

headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json",
}

# Start the generation
response = requests.post(
    f"{BASE_URL}/generate/image/bfl/flux-1-dev",
    headers=headers,
    json={
        "prompt": "a serene mountain landscape at sunset",
        "width": 1024,
        "height": 576,
        "steps": 28,
    },
    timeout=30,
)
response.raise_for_status()
job = response.json()
job_id = job["job_id"]
print(f"Job created: {job_id}")

# Poll every 2 seconds until the job is done
while True:
    response = requests.get(f"{BASE_URL}/jobs/{job_id}", headers=headers, timeout=30)
    response.raise_for_status()
    job = response.json()
    print(f"Status: {job['status']}")
    if job["status"] == "completed":
        print(job["result"]["urls"][0])
        break
    if job["status"] in ("failed", "cancelled"):
        raise SystemExit(f"Job {job['status']}: {job.get('result')}")
    time.sleep(2)
