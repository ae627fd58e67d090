"""HTTP: one exchange (the transport, the connection pool, the one mapping of httpx
exceptions), retries, admission, credentials and URLs."""
