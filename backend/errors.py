"""Domain errors shared by loyalty and provenance: each names the field at fault; the API maps them to 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. ``code`` is stable, ``field`` names the input at fault."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidQuery(DomainError):
    """A query parameter that means nothing (not an identifier, a trace without its item…)."""

    status = 400
    code = "invalid_query"


class QueryTooLarge(DomainError):
    """A query that matches more than the client allowed (EPCIS ``maxEventCount``)."""

    status = 413
    code = "query_too_large"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unprocessable(DomainError):
    status = 422
    code = "unprocessable"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
