"""The server's error catalogue (src/errors.ts) as exception classes.

Every failure the server reports carries a stable code; each code is a
subclass of :class:`SpikeserveError`, so ``except spikeserve.InputInvalidError``
catches exactly that code, and ``except SpikeserveError`` catches them all.
Failures of the client's own transport (a socket that dropped and could not
be resumed, a reply that was lost) are :class:`ConnectionLostError` and
:class:`CommandLostError`, which are not server codes.
"""

from __future__ import annotations

from typing import Any, Mapping


class SpikeserveError(Exception):
    """An error reported by the server: ``code`` (from the catalogue),
    ``message`` (what to fix), ``details`` (a dict, possibly empty) and the
    code's HTTP ``status``."""

    code: str = ""
    status: int = 0

    def __init__(self, message: str, details: Mapping[str, Any] | None = None, *, code: str | None = None, status: int | None = None):
        super().__init__(f"{code or self.code}: {message}")
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


# One class per code of src/errors.ts, with its HTTP status (a test checks the two agree).
class SpecInvalidError(SpikeserveError):
    """SPEC_INVALID (400)."""

    code = "SPEC_INVALID"
    status = 400


class InputInvalidError(SpikeserveError):
    """INPUT_INVALID (400)."""

    code = "INPUT_INVALID"
    status = 400


class WeightsInvalidError(SpikeserveError):
    """WEIGHTS_INVALID (400)."""

    code = "WEIGHTS_INVALID"
    status = 400


class SnapshotInvalidError(SpikeserveError):
    """SNAPSHOT_INVALID (400)."""

    code = "SNAPSHOT_INVALID"
    status = 400


class SnapshotVersionUnsupportedError(SpikeserveError):
    """SNAPSHOT_VERSION_UNSUPPORTED (422)."""

    code = "SNAPSHOT_VERSION_UNSUPPORTED"
    status = 422


class LimitExceededError(SpikeserveError):
    """LIMIT_EXCEEDED (422)."""

    code = "LIMIT_EXCEEDED"
    status = 422


class RewardNotPendingError(SpikeserveError):
    """REWARD_NOT_PENDING (409)."""

    code = "REWARD_NOT_PENDING"
    status = 409


class ConnectionNotFoundError(SpikeserveError):
    """CONNECTION_NOT_FOUND (404)."""

    code = "CONNECTION_NOT_FOUND"
    status = 404


class PopulationNotFoundError(SpikeserveError):
    """POPULATION_NOT_FOUND (404)."""

    code = "POPULATION_NOT_FOUND"
    status = 404


class SessionNotFoundError(SpikeserveError):
    """SESSION_NOT_FOUND (404)."""

    code = "SESSION_NOT_FOUND"
    status = 404


class ReplayCaseInvalidError(SpikeserveError):
    """REPLAY_CASE_INVALID (400)."""

    code = "REPLAY_CASE_INVALID"
    status = 400


class BackendUnavailableError(SpikeserveError):
    """BACKEND_UNAVAILABLE (503)."""

    code = "BACKEND_UNAVAILABLE"
    status = 503


class RequestInvalidError(SpikeserveError):
    """REQUEST_INVALID (400)."""

    code = "REQUEST_INVALID"
    status = 400


class RouteNotFoundError(SpikeserveError):
    """ROUTE_NOT_FOUND (404)."""

    code = "ROUTE_NOT_FOUND"
    status = 404


class BodyTooLargeError(SpikeserveError):
    """BODY_TOO_LARGE (413)."""

    code = "BODY_TOO_LARGE"
    status = 413


class UnsupportedMediaTypeError(SpikeserveError):
    """UNSUPPORTED_MEDIA_TYPE (415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class ShuttingDownError(SpikeserveError):
    """SHUTTING_DOWN (503)."""

    code = "SHUTTING_DOWN"
    status = 503


class MessageInvalidError(SpikeserveError):
    """MESSAGE_INVALID (400)."""

    code = "MESSAGE_INVALID"
    status = 400


class WsReadOnlyError(SpikeserveError):
    """WS_READ_ONLY (403)."""

    code = "WS_READ_ONLY"
    status = 403


class WsControllerTakenError(SpikeserveError):
    """WS_CONTROLLER_TAKEN (409)."""

    code = "WS_CONTROLLER_TAKEN"
    status = 409


class RateLimitedError(SpikeserveError):
    """RATE_LIMITED (429)."""

    code = "RATE_LIMITED"
    status = 429


class WsBufferExceededError(SpikeserveError):
    """WS_BUFFER_EXCEEDED (413)."""

    code = "WS_BUFFER_EXCEEDED"
    status = 413


class UpgradeRequiredError(SpikeserveError):
    """UPGRADE_REQUIRED (426)."""

    code = "UPGRADE_REQUIRED"
    status = 426


class UnauthorizedError(SpikeserveError):
    """UNAUTHORIZED (401)."""

    code = "UNAUTHORIZED"
    status = 401


class QuotaExceededError(SpikeserveError):
    """QUOTA_EXCEEDED (429)."""

    code = "QUOTA_EXCEEDED"
    status = 429


class OriginNotAllowedError(SpikeserveError):
    """ORIGIN_NOT_ALLOWED (403)."""

    code = "ORIGIN_NOT_ALLOWED"
    status = 403


class HostNotAllowedError(SpikeserveError):
    """HOST_NOT_ALLOWED (403)."""

    code = "HOST_NOT_ALLOWED"
    status = 403


class OverloadedError(SpikeserveError):
    """OVERLOADED (503)."""

    code = "OVERLOADED"
    status = 503


class PersistenceFailedError(SpikeserveError):
    """PERSISTENCE_FAILED (503)."""

    code = "PERSISTENCE_FAILED"
    status = 503


class StepOverflowError(SpikeserveError):
    """STEP_OVERFLOW (422)."""

    code = "STEP_OVERFLOW"
    status = 422


class SessionUnavailableError(SpikeserveError):
    """SESSION_UNAVAILABLE (503): the session's node in a cluster is down; retry after ``Retry-After``."""

    code = "SESSION_UNAVAILABLE"
    status = 503


class InternalError(SpikeserveError):
    """INTERNAL_ERROR (500)."""

    code = "INTERNAL_ERROR"
    status = 500


#: Every catalogue code and its exception class.
ERROR_CLASSES: dict[str, type[SpikeserveError]] = {cls.code: cls for cls in SpikeserveError.__subclasses__()}


def error_from(code: str, message: str, details: Mapping[str, Any] | None = None, status: int | None = None) -> SpikeserveError:
    """The exception for an error the server sent; a code this client does not
    know (a newer server) still gives a :class:`SpikeserveError` with that code."""
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        return SpikeserveError(message, details, code=code, status=status or 0)
    return cls(message, details)


def error_from_body(body: Any, status: int) -> SpikeserveError:
    """The exception for an HTTP error response's JSON body (``{"error": {...}}``)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or "code" not in err:
        return SpikeserveError(f"HTTP {status} without an error body", code=f"HTTP_{status}", status=status)
    return error_from(str(err["code"]), str(err.get("message", "")), err.get("details"), status)


class ConnectionLostError(ConnectionError):
    """The WebSocket dropped and could not be opened again (or reconnecting is
    off). ``close_code`` and ``reason`` are the last close's, when known."""

    def __init__(self, message: str, close_code: int | None = None, reason: str = ""):
        super().__init__(message)
        self.close_code = close_code
        self.reason = reason


class CommandLostError(ConnectionError):
    """A command's reply was lost with a dropped socket. ``applied`` says what
    the session's state after reconnecting shows: True (the command ran, and
    is on disk, but its reply, spikes included, is gone), or None (cannot be
    told: a reset or a weight write was among the unanswered commands)."""

    def __init__(self, message: str, request: str, applied: bool | None):
        super().__init__(message)
        self.request = request
        self.applied = applied
