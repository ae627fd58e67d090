"""The HTTP transports a client can run on (httpx's own, aiohttp): the extension point."""
