"""Krea's image-to-image example (Python, ``requests``) with Nano Banana Pro.

``image_urls`` takes https URLs (for example an uploaded asset's ``image_url``)
or ``data:image/jpeg;base64,...`` URIs. Set ``KREA_BASE_URL`` (default
``https://api.krea.ai``) and ``KREA_API_KEY``; ``IMAGE_URL`` overrides the input.
"""

import os
import time

import requests

API_KEY = os.environ["KREA_API_KEY"]
BASE_URL = os.environ.get("KREA_BASE_URL", "https://api.krea.ai")
IMAGE_URL = os.environ.get(
    "IMAGE_URL",
    "https://images.unsplash.com/photo-1506905925346-21bda4d32df4?w=1024",
)

headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json",
}

response = requests.post(
    f"{BASE_URL}/generate/image/google/nano-banana-pro",
    headers=headers,
    json={
        "image_urls": [IMAGE_URL],
        "prompt": "turn this photo into a watercolor painting",
    },
    timeout=30,
)
response.raise_for_status()
job_id = response.json()["job_id"]
print(f"Job created: {job_id}")

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
