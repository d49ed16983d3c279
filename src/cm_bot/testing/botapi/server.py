"""The HTTP side: both ports, and answering ``/bot<token>/<method>`` through faults and outages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web

from cm_bot.testing.botapi.errors import NGINX_502, ApiError, default_description
from cm_bot.testing.botapi.faults import Fault, FaultPlan
from cm_bot.testing.botapi.methods import BotMethods
from cm_bot.testing.botapi.params import chat_id_of, read_params
from cm_bot.testing.botapi.records import JSONDict, Records
from cm_bot.testing.botapi.signals import Signals

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiServer:
    """Serves the Bot API and ``/_test`` on two ports.

    Both ports serve both routes; the second (the control port) exists so the test side
    keeps a way in while a refused-connection outage has closed the first.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        control_port: int,
        token: str,
        bot: BotMethods,
        faults: FaultPlan,
        records: Records,
        signals: Signals,
        control: ControlHandler,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._requested_control_port = control_port
        self.port: int | None = None
        self.control_port: int | None = None
        self._token = token
        self._bot = bot
        self._faults = faults
        self._records = records
        self._signals = signals
        self._control = control
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._control_site: web.TCPSite | None = None

    @property
    def started(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._runner is not None

    async def start(self) -> None:
        """Bind both ports (free ones unless given)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/_test/{action}", self._control)
        # handler_cancellation: a client that gives up (timeout, stop_polling) cancels the
        # handler, like Telegram forgetting an abandoned long poll.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        self._site = web.TCPSite(runner, self.host, self._requested_port)
        await self._site.start()
        self.port = self._site.port
        self._control_site = web.TCPSite(runner, self.host, self._requested_control_port)
        await self._control_site.start()
        self.control_port = self._control_site.port

    async def stop(self) -> None:
        """Close both ports and every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._site = self._control_site = None

    async def stop_listening(self) -> None:
        """Close the Bot API port and reset its open connections (a refused-connection outage)."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self._reset_connections()

    async def resume_listening(self) -> None:
        """Listen on the Bot API port again, if it was closed while running."""
        if self._site is None and self._runner is not None:
            assert self.port is not None
            self._site = web.TCPSite(self._runner, self.host, self.port)
            await self._site.start()

    async def _reset_connections(self) -> None:
        """Close every open connection to the Bot API port, as a port going away does.

        Closed here, each transport is closed properly; left to linger after the port
        stopped listening, a keep-alive connection (the bot's start-up calls, say) could
        outlive the outage and be found unclosed by the garbage collector later.
        """
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return
        await asyncio.sleep(0)  # a connection accepted as the port closed registers first
        for handler in server.connections:
            handler.force_close()

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        if request.match_info["token"] != self._token:
            return self._answer(raw_method, {}, 401, ApiError(401, "Unauthorized").payload())
        known = self._bot.name_of(raw_method)
        name = known or raw_method
        self._records.calls[name] += 1
        if self._faults.outage is not None:
            return await self._outage_answer(request, name)
        if known is None:
            error = ApiError(404, "Not Found: method not found")
            return self._answer(name, {}, error.status, error.payload())
        try:
            params = await read_params(request)
        except ApiError as exc:
            return self._answer(name, {}, exc.status, exc.payload())
        chat_id = chat_id_of(params)
        fault = self._faults.take(name, chat_id)
        if fault is None:
            status, payload = await self._bot.run(name, params)
            return web.json_response(payload, status=status)
        return await self._faulty_answer(request, fault, name, params, chat_id)

    async def _outage_answer(self, request: web.Request, name: str) -> web.StreamResponse:
        mode = self._faults.outage
        status = None if mode == "refuse" else 502
        self._records.log_fault("outage", name, None, status, accepted=False, result=None)
        if mode == "refuse":
            return await self._drop(request)
        self._records.log_call(name, {}, 502)
        if mode == "html":
            return web.Response(status=502, text=NGINX_502, content_type="text/html")
        return web.json_response(ApiError(502, "Bad Gateway").payload(), status=502)

    async def _faulty_answer(
        self, request: web.Request, fault: Fault, name: str, params: JSONDict, chat_id: int | None
    ) -> web.StreamResponse:
        if fault.kind == "error":
            error = ApiError(
                fault.status,
                fault.description or default_description(fault.status, fault.retry_after),
                retry_after=fault.retry_after,
            )
            self._records.log_fault(
                "error", name, chat_id, fault.status, accepted=False, result=None
            )
            return self._answer(name, params, error.status, error.payload())
        if fault.accepted:
            status, payload = await self._bot.run(name, params)
            accepted = status == HTTPStatus.OK
            answer_status: int | None = status if fault.kind == "timeout" else None
            self._records.log_fault(
                fault.kind, name, chat_id, answer_status, accepted, payload.get("result")
            )
        else:
            description = default_description(fault.status, None)
            status, payload = fault.status, ApiError(fault.status, description).payload()
            answer_status = status if fault.kind == "timeout" else None
            self._records.log_fault(fault.kind, name, chat_id, answer_status, False, None)
        if fault.kind == "drop":
            return await self._drop(request)
        await self._signals.sleep(fault.seconds)
        if not fault.accepted:
            self._records.log_call(name, params, status)
        return web.json_response(payload, status=status)

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        """Reset the connection; aiohttp then cancels this handler (handler_cancellation)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        await self._signals.sleep(30.0)
        raise ConnectionResetError("connection dropped by FakeBotAPI")

    def _answer(self, name: str, params: JSONDict, status: int, payload: JSONDict) -> web.Response:
        self._records.log_call(name, params, status)
        return web.json_response(payload, status=status)
