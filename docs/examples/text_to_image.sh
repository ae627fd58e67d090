#!/bin/sh
# Krea's text-to-image example with cURL: start a Flux job, poll it every 2 s,
# print the image URL. KREA_BASE_URL defaults to https://api.krea.ai (point it
# at `python -m krea_async.testing serve` to try it offline); KREA_API_KEY is required.
set -eu
BASE_URL="${KREA_BASE_URL:-https://api.krea.ai}"

response=$(curl -sS -X POST "$BASE_URL/generate/image/bfl/flux-1-dev" \
  -H "Authorization: Bearer $KREA_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"prompt": "a serene mountain landscape at sunset", "width": 1024, "height": 576, "steps": 28}')
job_id=$(printf '%s' "$response" | sed -n 's/.*"job_id" *: *"\([^"]*\)".*/\1/p')
if [ -z "$job_id" ]; then
  echo "submit failed: $response" >&2
  exit 1
fi
echo "Job created: $job_id"

while :; do
  job=$(curl -sS "$BASE_URL/jobs/$job_id" -H "Authorization: Bearer $KREA_API_KEY")
  status=$(printf '%s' "$job" | sed -n 's/.*"status" *: *"\([^"]*\)".*/\1/p')
  echo "Status: $status"
  case "$status" in
    completed)
      printf '%s' "$job" | sed -n 's/.*"urls" *: *\[ *"\([^"]*\)".*/\1/p'
      exit 0 ;;
    failed|cancelled)
      echo "Job $status: $job" >&2
      exit 1 ;;
  esac
  sleep 2
done
