"""Krea's bundled OpenAPI document, and the input rules read from it."""
