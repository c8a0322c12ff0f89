"""What every page shares: templates, words, language, signed cookies, static files, and
`mount_web`, which puts the pages on the API's app (`parcelflow serve` serves both).

Pages are rendered on the server (Jinja2, autoescaped) and work without JavaScript;
htmx (vendored in static/vendor/) is there for the pages that update in place. The pages
call the same application services and read the same read models as the API, through
the API's context (`parcelflow.api.context`): no second code path.

Adding an area of pages (the console): a module with an `APIRouter` named `router`
(and optionally `install(app)`), listed in `PAGES`; its words in `messages/<area>.toml`, its templates in
`templates/<area>/`.
"""

from __future__ import annotations

import importlib
import secrets
from dataclasses import dataclass
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.staticfiles import StaticFiles

from parcelflow.consumers.notifications.messages import local_time
from parcelflow.settings import Settings
from parcelflow.web.i18n import LANG_COOKIE, LANGUAGES, NATIVE_NAMES, Catalogue, choose_language
from parcelflow.web.security import SecurityHeaders

# The page areas mount_web includes, by module: each has an APIRouter named `router`.
PAGES: tuple[str, ...] = (
    "parcelflow.web.track",
    "parcelflow.web.survey",
    "parcelflow.web.console",
)
STATIC_PATH = "/static"
HTMX = "vendor/htmx-2.0.11.min.js"


@dataclass
class Web:
    """The pages' shared parts, built once per process (`app.state.web`)."""

    settings: Settings
    templates: jinja2.Environment
    catalogue: Catalogue
    secret: bytes

    def signer(self, purpose: str) -> URLSafeTimedSerializer:
        """Signs and checks cookie values for one purpose (a value signed for one purpose
        is refused for another)."""
        return URLSafeTimedSerializer(self.secret, salt=f"parcelflow.web.{purpose}")

    def unsign(self, purpose: str, value: str | None, max_age: float) -> Any:
        """The value a cookie carries if it is ours, for this purpose, and younger than
        `max_age` seconds; else None."""
        if not value:
            return None
        try:
            return self.signer(purpose).loads(value, max_age=max_age)
        except BadSignature:  # also SignatureExpired
            return None


def build_web(settings: Settings) -> Web:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("parcelflow.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    key = settings.web_secret_key
    # A random key per process unless configured: cookies then last as long as the
    # process, and another worker would not accept them (README: set it for --workers).
    secret = key.get_secret_value().encode() if key else secrets.token_bytes(32)
    return Web(settings, env, Catalogue.load(), secret)


def web(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


def language(request: Request) -> str:
    return choose_language(request.cookies.get(LANG_COOKIE),
                           request.headers.get("accept-language"))


def render(request: Request, template: str, *, status: int = 200,
           headers: dict[str, str] | None = None, here: str | None = None,
           **context: Any) -> HTMLResponse:
    """The template rendered in the request's language, as an HTML answer.

    Every template gets `t(key, **values)` (the words), `lang`, `switch` (the other
    languages, each with the link that switches to it and comes back here), `static(path)`,
    `when(moment)` (a time as people of that language read it, in the network's zone)
    and `request`. `here`: the page the switch links come back to (for an answer to a
    POST, the page the form was on; default: this URL).
    """
    w = web(request)
    lang = language(request)
    here = here or request.url.path + (f"?{request.url.query}" if request.url.query else "")
    values = {
        "t": lambda key, **v: w.catalogue.text(lang, key, **v),
        "lang": lang,
        "switch": [{"lang": other, "name": NATIVE_NAMES[other],
                    "href": f"/lang/{other}?next={quote(here, safe='/')}"}
                   for other in LANGUAGES if other != lang],
        "static": lambda path: f"{STATIC_PATH}/{path}",
        "htmx": f"{STATIC_PATH}/{HTMX}",
        "when": time_words(request),
        "request": request,
        **context,
    }
    body = w.templates.get_template(template).render(values)
    response = HTMLResponse(body, status_code=status, headers=headers)
    response.headers["Content-Language"] = lang
    response.headers.setdefault("Cache-Control", "no-store")  # pages show live state
    return response


def time_words(request: Request) -> Callable[[str | datetime | None], str]:
    """Times as people of the request's language read them, in the network's zone (the
    customer notifications' format)."""
    lang = language(request)
    ctx = getattr(request.app.state, "ctx", None)
    zone = ctx.service.network.zone if ctx else timezone.utc

    def when(moment: str | datetime | None) -> str:
        if not moment:
            return ""
        at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        return local_time(at, lang, zone)

    return when


router = APIRouter(include_in_schema=False)


def local_path(value: str | None) -> str:
    """`value` if it is a path on this site; else "/". A switch link can then never send
    anyone elsewhere (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str | None = Query(None)) -> RedirectResponse:
    """Remember the chosen language (a year) and go back to the page it was chosen on."""
    response = RedirectResponse(local_path(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/track", status_code=307)


def mount_web(app: FastAPI, settings: Settings, pages: tuple[str, ...] = PAGES) -> None:
    """Serve the pages, their static files and their security headers on `app`."""
    app.state.web = build_web(settings)
    app.include_router(router)
    for name in pages:
        area = importlib.import_module(name)
        app.include_router(area.router)
        if hasattr(area, "install"):  # an area's own exception handlers (the console's)
            area.install(app)
    app.mount(STATIC_PATH, StaticFiles(packages=[("parcelflow.web", "static")]), name="static")
    app.add_middleware(SecurityHeaders)
