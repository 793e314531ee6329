"""One error hierarchy, rendered as {"error": code, "detail": text}."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute


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


# The code of an error that a framework layer (Starlette, FastAPI) raised as an
# HTTPException, by status: the same codes AppError's subclasses use.
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


def leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route of the app, the included routers' too (FastAPI keeps an
    included router as one route that holds it); their paths are whole."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from leaf_routes(included.routes)
        else:
            yield route


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method some route answers on `path`. Starlette's own 405 names
    only the first matching route's methods, though `GET /x/{id}` and
    `PATCH /x/{id}` are two routes."""
    methods: set[str] = set()
    for route in leaf_routes(app.routes):
        regex = getattr(route, "path_regex", None)
        route_methods = getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)


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

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's and FastAPI's own: unknown path, wrong method, unreadable body.
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request.app, request.url.path)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(
            {"error": code, "detail": detail}, status_code=exc.status_code, headers=headers
        )

    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        # The server logs the traceback; the client learns nothing of the insides.
        return JSONResponse(
            {"error": "internal_error", "detail": "internal server error"}, status_code=500
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
