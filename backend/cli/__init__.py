"""The `credance` command line (Typer)."""
