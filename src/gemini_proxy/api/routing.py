"""Starlette's router, with the routes of fixed paths found by one dict lookup.

Starlette tries the routes in order, a regular expression each, until one matches: with some
forty routes that was ~0.035 ms of CPU per request for a path near the end of the list (the
Anthropic and Responses surfaces), a tenth of what the proxy spends on the whole request.
``IndexedRouter`` answers a request whose path and method are those of a route without path
parameters from a table built once; any other request (a path with parameters, a wrong method, a
miss) goes through Starlette's scan, narrowed as below. A fixed route is put in the table only
when no route before it would match the same path and method, so that the order's meaning is kept.

A path with parameters (the native surface's ``/v1beta/models/{model}:{method}``, a stored
response's id) is scanned too, but only over the routes that can match its first segment: the
routes whose path begins with that segment, and those whose first segment is not a fixed word (a
parameter, a mount), in their order. The native surface's route is the 22nd of 49, and the whole
scan was ~13 us a request.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

__all__ = ["IndexedRouter"]


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], **options: object) -> None:
        super().__init__(list(routes), **options)  # type: ignore[arg-type]
        self._fixed: dict[tuple[str, str], Route] = {}
        for index, route in enumerate(self.routes):
            if not isinstance(route, Route) or "{" in route.path or not route.methods:
                continue
            for method in route.methods:
                probe = {"type": "http", "path": route.path, "method": method, "root_path": ""}
                if any(earlier.matches(probe)[0] is Match.FULL for earlier in self.routes[:index]):
                    continue
                self._fixed.setdefault((route.path, method), route)
        # First segment -> a router over the routes that may match a path beginning with it.
        segments = {first for route in self.routes if (first := _first_segment(route)) is not None}
        self._by_segment = {segment: self._narrowed(segment) for segment in segments}
        self._any = self._narrowed(None)

    def _narrowed(self, segment: str | None) -> Router:
        routes = _matching(self.routes, segment)
        return Router(routes, redirect_slashes=self.redirect_slashes, default=self.default)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            if "router" not in scope:
                scope["router"] = self
            route = self._fixed.get((scope["path"], scope["method"]))
            if route is not None:
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await route.handle(scope, receive, send)
                return
            segment = scope["path"][1:].partition("/")[0]
            await self._by_segment.get(segment, self._any).app(scope, receive, send)
            return
        await super().app(scope, receive, send)


def _first_segment(route: BaseRoute) -> str | None:
    """The fixed first segment of the paths ``route`` matches (``"v1beta"`` for
    ``/v1beta/models/{target:path}``); None when that segment is not fixed (a parameter in it, a
    mount or another kind of route: it may match anything)."""
    if not isinstance(route, Route):
        return None
    head = route.path[1:].partition("/")[0]
    return None if "{" in head else head


def _matching(routes: list[BaseRoute], segment: str | None) -> list[BaseRoute]:
    """The routes, in order, that may match a path whose first segment is ``segment`` (None: one
    no route names)."""
    return [route for route in routes if (first := _first_segment(route)) is None or first == segment]
