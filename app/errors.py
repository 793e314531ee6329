"""One error hierarchy, rendered as {"error": code, "detail": text}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class AppError(Exception):
    code = "error"
    status = 400

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code
        self.headers = headers


class BadRequest(AppError):
    """The body is not what the sender's protocol sends (malformed JSON, ...)."""

    code = "bad_request"
    status = 400


class InvalidRequest(AppError):
    code = "invalid_request"
    status = 422


class NotAuthenticated(AppError):
    code = "not_authenticated"
    status = 401


class Forbidden(AppError):
    code = "forbidden"
    status = 403


class NotFound(AppError):
    code = "not_found"
    status = 404


class Conflict(AppError):
    code = "conflict"
    status = 409


class RateLimited(AppError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many requests; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return JSONResponse(
            {"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=exc.headers
        )

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=422)

    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        # The server logs the traceback; the client learns nothing of the insides.
        return JSONResponse(
            {"error": "internal_error", "detail": "internal server error"}, status_code=500
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
