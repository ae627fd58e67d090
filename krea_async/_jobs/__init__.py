"""Jobs: waiting for a job (the shared poller, streams, wake-ups) and what its outcome means."""
