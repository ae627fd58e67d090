"""A FastAPI app showing live Krea job states in the browser (see README.md here)."""
