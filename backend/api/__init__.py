"""HTTP API (FastAPI): one router per resource, typed dependencies, JSON errors."""
