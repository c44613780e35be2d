"""The contract role fixtures are shared with tests/contracts."""

from tests.contracts.conftest import points, registry, roles

__all__ = ["points", "registry", "roles"]
