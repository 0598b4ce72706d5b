"""The dashboard's aiohttp application: routes over the snapshot and plot folders, read-only.

Everything is read from ``$WEATHER_DATA_DIR/{stations,temperatures,plots}`` on request (files
re-read only when they changed), so the server needs no worker, no broker and not even the
folders to exist yet. Only GET is routed; every error is a small JSON body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from weather_app.dashboard import assets, csv_export, specs
from weather_app.dashboard.events import ChangeHub
from weather_app.dashboard.freshness import Freshness, freshness, health
from weather_app.dashboard.lag import LagMonitor
from weather_app.dashboard.metrics import CONTENT_TYPE, DashboardMetrics
from weather_app.dashboard.snapshots import DATASETS, SnapshotFolder
from weather_app.files.layout import Layout
from weather_app.settings import Settings

log = logging.getLogger(__name__)

PLOTS = "plots"
HEARTBEAT_SEC = 15.0
RETRY_MS = 2000

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # vega compiles its expressions with Function(): 'unsafe-eval'; vega-embed adds <style>
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
}
#: where a browser keeps the dashboard token after ``/?token=...`` (see :func:`_token_required`)
TOKEN_COOKIE = "weather_dashboard_token"
#: the one route answered without the token: liveness probes carry no secrets
OPEN_PATHS = frozenset({"/healthz"})


class Dashboard:
    """The state behind the routes: one :class:`SnapshotFolder` per dataset, lag, metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        lag: LagMonitor | None = None,
        poll_every: float = 0.1,
        heartbeat: float = HEARTBEAT_SEC,
    ) -> None:
        self.settings = settings
        self.heartbeat = heartbeat
        self.lag = lag if lag is not None else LagMonitor(settings)
        self.metrics = DashboardMetrics(self.all_freshness)
        self.folders = {
            kind: SnapshotFolder(
                kind,
                Layout(settings).snapshots(kind),
                on_read=lambda kind: self.metrics.files_read.labels(kind).inc(),
            )
            for kind in DATASETS
        }
        for kind in DATASETS:
            self.metrics.files_read.labels(kind)  # exported as 0 before the first read
        self.plots_dir = Layout(settings).plots
        self.hub = ChangeHub(self._fingerprints, every=poll_every)
        self.static = assets.static_assets()
        self.page = assets.page(specs.page_config())

    def freshness(self, kind: str) -> list[Freshness]:
        partitions = self.folders[kind].current()
        return freshness(
            kind, partitions, self.lag.lag, time.time(), self.settings.snapshot_interval
        )

    def all_freshness(self) -> dict[str, list[Freshness]]:
        return {kind: self.freshness(kind) for kind in DATASETS}

    def _fingerprints(self) -> dict[str, object]:
        prints: dict[str, object] = {
            kind: frozenset(folder.signatures().items()) for kind, folder in self.folders.items()
        }
        prints[PLOTS] = frozenset(assets.plot_names(self.plots_dir).items())
        return prints

    def application(self) -> web.Application:
        middlewares = [_errors_as_json]
        if self.settings.dashboard_token is not None:
            middlewares.insert(0, _token_required(self.settings.dashboard_token))
        app = web.Application(middlewares=middlewares)
        get = app.router.add_get
        get("/", self.index, allow_head=False)
        get("/static/{path:.+}", self.static_file, allow_head=False)
        get("/api/plots", self.api_plots, allow_head=False)
        get("/api/{dataset}", self.api_dataset, allow_head=False)
        get("/download/{name}", self.download, allow_head=False)
        get("/plots/{name}", self.plot, allow_head=False)
        get("/events", self.events, allow_head=False)
        get("/healthz", self.healthz, allow_head=False)
        get("/metrics", self.metrics_text, allow_head=False)
        app.on_response_prepare.append(_add_security_headers)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, _: web.Application) -> None:
        self.hub.start()  # the lag thread starts once the port is bound (runner.start)

    async def _on_shutdown(self, _: web.Application) -> None:
        await self.hub.stop()  # ends every /events stream, so shutdown does not wait on them
        self.lag.stop()

    # --- routes -------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.page,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def static_file(self, request: web.Request) -> web.Response:
        asset = self.static.get(request.match_info["path"])
        if asset is None:
            raise web.HTTPNotFound(text="no such static file")
        return web.Response(
            body=asset.body,
            headers={"Content-Type": asset.content_type, "Cache-Control": "max-age=3600"},
        )

    async def api_dataset(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["dataset"]
        if kind not in self.folders:
            raise web.HTTPNotFound(text=f"unknown dataset {kind!r}; use stations or temperatures")
        folder = self.folders[kind]
        partitions = folder.current()
        fresh = freshness(
            kind, partitions, self.lag.lag, time.time(), self.settings.snapshot_interval
        )
        extra = json.dumps(
            {
                "freshness": [item.as_json() for item in fresh],
                "errors": {str(n): reason for n, reason in folder.errors().items()},
                "snapshot_interval": self.settings.snapshot_interval,
            }
        ).encode()
        # the files' own bytes, spliced in: "exactly as on disk" with no re-encoding
        body = (
            b'{"dataset": '
            + json.dumps(kind).encode()
            + b', "partitions": ['
            + b", ".join(part.raw for part in partitions)
            + b"], "
            + extra[1:]
        )
        return _with_etag(request, body, "application/json")

    async def api_plots(self, request: web.Request) -> web.StreamResponse:
        plots = [
            {"name": name, "url": f"/plots/{name}?v={mtime}"}
            for name, mtime in assets.plot_names(self.plots_dir).items()
        ]
        return _with_etag(request, json.dumps({"plots": plots}).encode(), "application/json")

    async def download(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        kind = name.removesuffix(".csv")
        if not name.endswith(".csv") or kind not in self.folders:
            raise web.HTTPNotFound(
                text=f"no download {name!r}; use stations.csv or temperatures.csv"
            )
        body = csv_export.render(kind, self.folders[kind].current())
        return web.Response(
            body=body,
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{kind}.csv"',
                "Cache-Control": "no-cache",
            },
        )

    async def plot(self, request: web.Request) -> web.StreamResponse:
        path = assets.plot_path(self.plots_dir, request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text="no such plot")
        try:
            body = path.read_bytes()
        except OSError:
            raise web.HTTPNotFound(text="no such plot") from None
        content_type = assets.PLOT_TYPES[path.suffix.lstrip(".")]
        return _with_etag(request, body, content_type)

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        subscriber = self.hub.subscribe()
        self.metrics.sse_clients.inc()
        try:
            await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
            while not subscriber.closed:
                names = await subscriber.next(self.heartbeat)
                if subscriber.closed:
                    break
                if names:
                    await response.write("".join(f"data: {n}\n\n" for n in names).encode())
                    for name in names:
                        self.metrics.events_sent.labels(name).inc()
                else:
                    await response.write(b": heartbeat\n\n")
        except (ConnectionError, RuntimeError):  # the client went away mid-write
            pass
        finally:
            self.hub.unsubscribe(subscriber)
            self.metrics.sse_clients.dec()
        return response

    async def healthz(self, request: web.Request) -> web.Response:
        reason = health(self.all_freshness())
        if reason is None:
            return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})
        return web.json_response(
            {"status": "unhealthy", "reason": reason},
            status=503,
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_text(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.text(),
            headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"},
        )


def _with_etag(request: web.Request, body: bytes, content_type: str) -> web.Response:
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = content_type
    return web.Response(body=body, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        body: dict[str, Any] = {"error": error.text or error.reason, "status": error.status}
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return web.json_response(body, status=error.status, headers=headers)


async def _add_security_headers(_: web.Request, response: web.StreamResponse) -> None:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _token_required(token: str) -> Any:
    """Every route but ``/healthz`` answers only a request bearing ``token``: as
    ``Authorization: Bearer`` (tools, Prometheus), or the cookie a browser gets by opening any
    page with ``?token=`` once (redirected to the same URL without it, so the token leaves the
    address bar; the page's fetches, event stream and downloads then carry the cookie).
    Anything else is a bare 401. Every comparison takes constant time: of digests, so not even
    the token's length shows."""
    expected = _digest(token)

    def matches(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(_digest(given), expected)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        bearer = credentials.strip() if scheme.lower() == "bearer" else None
        if matches(bearer) or matches(request.cookies.get(TOKEN_COOKIE)):
            return await handler(request)
        if matches(request.query.get("token")):
            query = {k: v for k, v in request.query.items() if k != "token"}
            location = str(request.rel_url.with_query(query))
            response = web.Response(status=303, headers={"Location": location})
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response
        return web.Response(
            status=401, headers={"WWW-Authenticate": 'Bearer realm="weather dashboard"'}
        )

    return check


def _digest(text: str) -> bytes:
    """SHA-256 of ``text``; header bytes that are not UTF-8 (aiohttp keeps them as surrogates,
    which a plain ``encode`` refuses) digest too, as a value that matches no token."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
