from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static"


@router.get("/console")
async def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/console/reports")
async def reports_page() -> FileResponse:
    """Service standards for supervisors: figures and charts for a period and inbox."""
    return FileResponse(STATIC / "reports.html", media_type="text/html")
