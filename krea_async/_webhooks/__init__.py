"""Webhooks: the receiver, the job-event buses (local, Redis) that wake waiters."""
