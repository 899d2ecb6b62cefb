"""Stand-in for ComfyUI's ``server`` module: ``PromptServer.instance`` with an aiohttp
``RouteTableDef`` and a thread-safe ``send_sync(event, data, sid=None)``.

``send_sync`` records every message and hands it to listeners (the browser test forwards them
to its websocket), like the real server does through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import threading

from aiohttp import web


class PromptServer:
    instance: PromptServer | None = None

    def __init__(self, loop=None):
        PromptServer.instance = self
        self.loop = loop
        self.routes = web.RouteTableDef()
        self.client_id = None
        self.messages: list[tuple[str, object, object]] = []
        self._lock = threading.Lock()
        self._listeners: list = []

    def send_sync(self, event, data, sid=None):
        with self._lock:
            self.messages.append((event, data, sid))
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event, data, sid)

    async def send_json(self, event, data, sid=None):
        self.send_sync(event, data, sid)

    def add_listener(self, callback) -> None:
        with self._lock:
            self._listeners.append(callback)

    def events(self, name: str) -> list:
        with self._lock:
            return [data for event, data, _sid in self.messages if event == name]

    def add_routes_to(self, app: web.Application) -> None:
        """What PromptServer.add_routes does: mount the table as written and again under /api."""
        api_routes = web.RouteTableDef()
        for route in self.routes:
            if isinstance(route, web.RouteDef):
                api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
        app.add_routes(api_routes)
        app.add_routes(self.routes)




PromptServer(loop=None)
