"""The console's FastAPI application, built on a wired :class:`cm_bot.bootstrap.App`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from cm_bot.bootstrap import App
from cm_bot.web import auth
from cm_bot.web.routes_cases import router as cases_router
from cm_bot.web.routes_flags import router as flags_router
from cm_bot.web.routes_reports import router as reports_router
from cm_bot.web.security import SecurityHeaders

STATIC = Path(__file__).resolve().parent / "static"


def create_app(app: App, *, base_url: str | None = None) -> FastAPI:
    """The console over ``app`` (its store, engine, translator and clock).

    ``base_url``: the console's public URL (default: ``CM_BOT_CONSOLE_URL``); an https
    one makes the session cookie Secure.
    """
    web = FastAPI(
        title="cm-bot console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    web.state.cm = app
    web.state.base_url = base_url if base_url is not None else app.settings.console_url
    web.add_middleware(SecurityHeaders)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")

    @web.exception_handler(auth.SignInRequired)
    async def _sign_in(request: Request, exc: auth.SignInRequired) -> Response:
        response = RedirectResponse("/signin", status_code=303)
        if request.cookies.get(auth.COOKIE):
            response.delete_cookie(auth.COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @web.exception_handler(HTTPException)
    def _http_error(request: Request, exc: HTTPException) -> Response:
        from cm_bot.web.templating import render

        user = auth.signed_in(request) if exc.status_code == 404 else None
        return render(
            request,
            "error.html",
            {"status": exc.status_code},
            user=user,
            status_code=exc.status_code,
        )

    @web.get("/", include_in_schema=False)
    def _home() -> Response:
        return RedirectResponse("/flags", status_code=303)

    web.include_router(auth.router)
    web.include_router(flags_router)
    web.include_router(cases_router)
    web.include_router(reports_router)
    return web


__all__ = ["STATIC", "create_app"]
