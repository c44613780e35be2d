"""ASGI entry point for uvicorn (``backend.api.main:app``)."""

from backend.api.app import create_app
from backend.home import restrict_umask
from backend.observability import configure_logging
from backend.runtime import freeze_startup_heap
from backend.settings import get_settings

restrict_umask()  # also when uvicorn imports the app directly, without `credance serve`

# Each uvicorn worker process imports this module: configure its logs (secrets redacted) here.
configure_logging(get_settings().log_format, get_settings().log_level)
app = create_app()
# The app is built and lives as long as the worker: no full collection walks it again (runtime.py).
# Here rather than in create_app: tests build many apps in one process and must be able to free them.
freeze_startup_heap()
