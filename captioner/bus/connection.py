"""One connection to a NATS JetStream bus, kept up, with errors a person can act on.

:class:`BusOptions` says where the bus is and how to log in; :class:`BusLink` holds one
connection and opens a new one whenever it is lost (nats-py's own reconnect is off, so
that every loss is seen and each user of the link resumes from a position it knows).
A loss is seen by nats-py's callbacks and, since nats-py does not always call them (its
close can fail before it does, nats.py issue 806), by the client's own closed state.
Every failure becomes one :class:`BusError`: one line that names the bus URL (never its
password) and what to do. Nothing here logs a credential: every message goes through
:func:`~captioner.bus.names.redact_url` and :meth:`BusOptions.scrub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from captioner.bus.names import check_urls, redact_url
from captioner.errors import CaptionerError

if TYPE_CHECKING:
    import nats.aio.client
    import nats.js

    from captioner.config import BusConfig

log = logging.getLogger(__name__)

#: Seconds to wait for the server, for a connection and for each JetStream request.
DEFAULT_TIMEOUT_S = 5.0
#: How often a link looks whether its client closed without calling its callbacks.
WATCH_S = 0.5
#: Longest wait between attempts to connect again. An attempt at a server that is down
#: costs a refused connection (or ``timeout_s``), and every second waited after the
#: server is back is a second the edges' viewers get no live captions: with 15 s, the
#: edges came back 5 s after a 10 s outage ended.
MAX_RETRY_S = 4.0


class BusError(CaptionerError):
    """The bus cannot be used: one line naming the URL (without its password) and a hint.

    Attributes:
        kind: ``url``, ``refused``, ``host``, ``timeout``, ``auth``, ``tls``,
            ``jetstream``, ``stream``, ``conflict``, ``lost`` or ``other``.
    """

    def __init__(self, message: str, hint: str | None = None, *, kind: str = "other") -> None:
        super().__init__(message, hint)
        self.kind = kind


@dataclass(frozen=True)
class BusOptions:
    """Where the bus is and how to log in to it.

    Attributes:
        url: ``nats://HOST:PORT`` or ``tls://HOST:PORT``; several, separated by commas,
            for a cluster. A ``user:password@`` in it works and is never shown.
        user: User name (with ``password``).
        password: Password (with ``user``).
        token: An authentication token instead of a user and password.
        creds: A NATS ``.creds`` file (user JWT and nkey seed).
        nkey: A file holding an nkey seed.
        ca_file: The CA certificate(s) that signed the server's TLS certificate; empty
            trusts the system's CAs.
        timeout_s: Seconds to wait for the server.
        name: The connection's name in the server's monitoring.
    """

    url: str
    user: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    creds: str = ""
    nkey: str = ""
    ca_file: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    name: str = "captioner"

    def __post_init__(self) -> None:
        try:
            check_urls(self.url)
        except ValueError as exc:
            raise BusError(f"bus URL {redact_url(self.url)}: {exc}",
                           "write it as nats://HOST:4222 or tls://HOST:4222", kind="url") from None
        if self.password and not self.user:
            raise BusError("bus: a password needs a user", "set [bus] user as well", kind="url")
        if self.token and (self.user or self.creds or self.nkey):
            raise BusError("bus: a token is used alone, not with a user, creds or nkey",
                           "keep one way of logging in", kind="url")
        if self.creds and self.nkey:
            raise BusError("bus: creds and nkey are two ways of logging in",
                           "keep one of them", kind="url")

    @classmethod
    def from_config(cls, cfg: BusConfig, *, url: str | None = None) -> BusOptions:
        """The options of a ``[bus]`` section; ``url`` (from ``--bus``) replaces its URL."""
        return cls(url=url or cfg.url, user=cfg.user, password=cfg.password, token=cfg.token,
                   creds=cfg.creds, nkey=cfg.nkey, ca_file=cfg.ca_file)

    @property
    def shown_url(self) -> str:
        """The URL as every message shows it: without its password."""
        return redact_url(self.url)

    @property
    def servers(self) -> list[str]:
        return [part.strip() for part in self.url.split(",") if part.strip()]

    def scrub(self, text: str) -> str:
        """``text`` with every secret of these options replaced by ``***``."""
        secrets = [self.password, self.token]
        for server in self.servers:
            if "@" in server:
                userinfo = server.split("://", 1)[-1].rsplit("@", 1)[0]
                secrets.append(userinfo.split(":", 1)[-1])
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text.replace(self.url, self.shown_url)

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context for ``tls://`` URLs (and servers that require TLS).

        Raises:
            BusError: the CA file cannot be read.
        """
        if not self.ca_file and not any(s.startswith("tls://") for s in self.servers):
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise BusError(f"bus: cannot read the CA file {self.ca_file}: "
                           f"{getattr(exc, 'strerror', None) or exc}",
                           "set [bus] ca_file to a PEM file of the CA that signed the "
                           "server's certificate", kind="tls") from None

    def login(self) -> dict[str, Any]:
        """nats-py's connect arguments for logging in.

        Raises:
            BusError: a creds or nkey file cannot be read.
        """
        kwargs: dict[str, Any] = {}
        if self.user:
            kwargs.update(user=self.user, password=self.password)
        if self.token:
            kwargs["token"] = self.token
        for path, key in ((self.creds, "user_credentials"), (self.nkey, "nkeys_seed")):
            if path:
                if not Path(path).is_file():
                    raise BusError(f"bus: {path}: no such file",
                                   "point [bus] creds or nkey at the file the venue's NATS "
                                   "operator gave you", kind="auth")
                kwargs[key] = path
        return kwargs


def describe(exc: BaseException, options: BusOptions) -> BusError:
    """One :class:`BusError` for anything connecting or talking to the bus raised."""
    import nats.errors
    import nats.js.errors

    url = options.shown_url
    if isinstance(exc, BusError):
        return exc
    text = options.scrub(str(exc) or type(exc).__name__)
    if isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text.lower():
        return BusError(f"the bus at {url} refused our credentials (authorization violation)",
                        "check [bus] user and password, token, creds or nkey", kind="auth")
    if "authentication expired" in text.lower() or "user authentication" in text.lower():
        return BusError(f"the bus at {url} refused our credentials ({text})",
                        "check [bus] creds or nkey", kind="auth")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BusError(f"the bus at {url} has a TLS certificate we do not trust "
                        f"({getattr(exc, 'verify_message', None) or text})",
                        "set [bus] ca_file to the CA that signed the server's certificate",
                        kind="tls")
    if isinstance(exc, ssl.SSLError | nats.errors.SecureConnFailedError):
        return BusError(f"TLS with the bus at {url} failed ({text})",
                        "check that the server has TLS on and the URL starts with tls://",
                        kind="tls")
    if isinstance(exc, socket.gaierror):
        return BusError(f"the bus at {url}: host not found ({exc.strerror or text})",
                        "check the host name in the bus URL", kind="host")
    if isinstance(exc, ConnectionRefusedError):
        return BusError(f"cannot connect to the bus at {url}: connection refused",
                        "is nats-server running there, on that port? The room goes on in "
                        "local mode and joins when the bus is up", kind="refused")
    if isinstance(exc, nats.js.errors.ServiceUnavailableError | nats.errors.NoRespondersError
                  | nats.js.errors.NoStreamResponseError):
        return BusError(f"the bus at {url} has no JetStream",
                        "start nats-server with -js (or jetstream {} in its config) and give "
                        "the account JetStream", kind="jetstream")
    if isinstance(exc, nats.js.errors.APIError):
        description = options.scrub(str(exc.description or text))
        if exc.err_code == 10039:
            return BusError(f"the bus at {url}: JetStream is not enabled for this account",
                            "enable jetstream for the account in the server's config",
                            kind="jetstream")
        return BusError(f"the bus at {url} refused a JetStream request ({description})",
                        "see docs/deploy.md for the streams and permissions a room needs",
                        kind="stream")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return BusError(f"no answer from the bus at {url} within {options.timeout_s:g} s",
                        "check the address, the firewall and the account's permissions",
                        kind="timeout")
    if isinstance(exc, OSError):
        return BusError(f"cannot connect to the bus at {url} ({exc.strerror or text})",
                        "check the host and port in the bus URL", kind="refused")
    return BusError(f"the bus at {url}: {text}", "see docs/deploy.md", kind="other")


@dataclass(frozen=True, eq=False)
class Session:
    """One live connection of a :class:`BusLink`.

    Attributes:
        nc: The NATS client.
        js: Its JetStream context.
        lost: Set when this connection is gone; a user then waits for the next session.
        number: Counts the link's sessions from 1.
    """

    nc: nats.aio.client.Client
    js: nats.js.JetStreamContext
    lost: asyncio.Event
    number: int


@dataclass(frozen=True, slots=True)
class LinkState:
    """Whether a link is connected, and if not, why (a :class:`BusError`)."""

    connected: bool
    url: str
    error: BusError | None = None


class BusLink:
    """One connection to the bus, opened again whenever it is lost.

    Args:
        options: Where the bus is and how to log in.
        retry_s: First wait before connecting again; doubles up to ``max_retry_s``.
        max_retry_s: Longest wait between attempts.
    """

    def __init__(self, options: BusOptions, *, retry_s: float = 1.0,
                 max_retry_s: float = MAX_RETRY_S) -> None:
        self.options = options
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self._session: Session | None = None
        self._up = asyncio.Event()
        self._count = 0
        self._task: asyncio.Task | None = None
        self._listeners: list[Callable[[LinkState], None]] = []
        self._state = LinkState(False, options.shown_url)
        self._closed = False

    @property
    def url(self) -> str:
        """The bus URL without its password."""
        return self.options.shown_url

    @property
    def state(self) -> LinkState:
        return self._state

    def add_listener(self, listener: Callable[[LinkState], None]) -> None:
        """Calls ``listener`` on the event loop whenever the link goes up or down."""
        self._listeners.append(listener)

    async def open(self) -> None:
        """Connects now, then keeps the link up (a serving edge's start).

        Raises:
            BusError: the first attempt failed (one line, with a hint).
        """
        if self._session is None:
            try:
                self._adopt(await self._connect())
            except BusError as exc:
                self._set(LinkState(False, self.url, exc), logged=True)  # the caller says it
                raise
        self.start()

    def start(self) -> None:
        """Keeps the link up from now on, never raising (a room's start: a bus that is
        down is reported through the listeners and joined when it comes up)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._keep_up(),
                                                                name="bus-link")

    async def session(self) -> Session:
        """The live connection, waiting for one if the link is down."""
        while True:
            await self._up.wait()
            session = self._session
            if session is not None and _alive(session):
                return session
            self._up.clear()  # lost a moment ago: the keeper is replacing it

    @property
    def current(self) -> Session | None:
        session = self._session
        return session if session is not None and _alive(session) else None

    async def close(self) -> None:
        """Closes the connection and stops reconnecting."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        session, self._session = self._session, None
        self._up.clear()
        if session is not None:
            session.lost.set()
            await _close_quietly(session.nc)

    # -- inside -----------------------------------------------------------------------------

    def _set(self, state: LinkState, *, logged: bool = False) -> None:
        # The same failure again (each retry makes a new error) is no news.
        if _said(state) == _said(self._state):
            return
        self._state = state
        if state.connected:
            log.info("bus: connected to %s", state.url)
        elif state.error is not None and not logged:
            log.warning("bus: %s", state.error.message)
        for listener in tuple(self._listeners):
            try:
                listener(state)
            except Exception:  # one broken listener must not stop the link
                log.exception("bus link listener %r failed", listener)

    def _adopt(self, session: Session) -> None:
        self._session = session
        self._up.set()
        self._set(LinkState(True, self.url))

    async def _keep_up(self) -> None:
        delay = self.retry_s
        while True:
            session = self._session
            if session is None:
                try:
                    session = await self._connect()
                except BusError as exc:
                    self._set(LinkState(False, self.url, exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_s)
                    continue
                delay = self.retry_s
                self._adopt(session)
            await _watch(session)
            self._up.clear()
            self._session = None
            await _close_quietly(session.nc)
            self._set(LinkState(False, self.url, BusError(
                f"lost the connection to the bus at {self.url}",
                "captioner connects again by itself", kind="lost")))

    async def _connect(self) -> Session:
        """One attempt at each server of the URL, then a check that JetStream answers."""
        import nats
        import nats.errors

        options = self.options
        kwargs = options.login()
        tls = options.tls_context()
        if tls is not None:
            kwargs["tls"] = tls
            for server in options.servers:
                if server.startswith("tls://"):
                    await self._require_tls(server)
        lost = asyncio.Event()
        errors: list[BaseException] = []

        async def on_error(exc: Exception) -> None:
            errors.append(exc)
            log.debug("bus %s: %s", options.shown_url, options.scrub(str(exc) or repr(exc)))

        async def on_lost() -> None:
            lost.set()
            if self._session is not None and self._session.lost is lost:
                self._up.clear()

        nc = nats.NATS()
        try:
            await nc.connect(options.servers, allow_reconnect=False, max_reconnect_attempts=1,
                             reconnect_time_wait=0,
                             connect_timeout=max(1, round(options.timeout_s)),
                             ping_interval=5, max_outstanding_pings=3, name=options.name,
                             error_cb=on_error, disconnected_cb=on_lost, closed_cb=on_lost,
                             **kwargs)
        except Exception as exc:
            await _close_quietly(nc)
            # NoServersError hides the cause: the first error the client met says it.
            raise describe(errors[0] if errors and isinstance(
                exc, nats.errors.NoServersError) else exc, options) from None
        js = nc.jetstream(timeout=options.timeout_s)
        try:
            await js.account_info()
        except Exception as exc:
            await _close_quietly(nc)
            raise describe(exc, options) from None
        self._count += 1
        return Session(nc, js, lost, self._count)

    async def _require_tls(self, server: str) -> None:
        """Refuses a ``tls://`` server whose greeting does not require TLS: nats-py would
        otherwise send our credentials in the clear to a server without TLS."""
        from urllib.parse import urlsplit

        parts = urlsplit(server)
        host, port = parts.hostname or "", parts.port or 4222
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                    self.options.timeout_s)
        except Exception as exc:
            raise describe(exc, self.options) from None
        try:
            line = await asyncio.wait_for(reader.readline(), self.options.timeout_s)
        except Exception as exc:
            raise describe(exc, self.options) from None
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
        info: dict = {}
        if line.startswith(b"INFO "):
            try:
                info = json.loads(line[5:])
            except ValueError:
                info = {}
        if not info.get("tls_required"):
            raise BusError(f"the bus at {redact_url(server)} does not offer TLS",
                           "turn TLS on in the server's config, or use a nats:// URL on a "
                           "trusted network", kind="tls")


async def _watch(session: Session, every_s: float = WATCH_S) -> None:
    """Returns once ``session`` is lost, and marks it so for its users.

    nats-py calls ``disconnected_cb`` and ``closed_cb`` at the end of its close, and that
    close can stop before (nats-py 2.16: draining a broken socket that still had data
    to send raises, out of the very task that closes it). The client is closed all the
    same, so its state is looked at too: a room, an edge or the archive whose server
    went away and came back would otherwise wait forever on a connection that is gone.
    """
    while _alive(session):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.lost.wait(), every_s)


def _alive(session: Session) -> bool:
    """Whether ``session`` is still up; one whose client closed without its callbacks
    is marked lost here (see :func:`_watch`)."""
    if session.lost.is_set():
        return False
    if session.nc.is_closed:
        log.debug("bus: the connection closed without saying so")
        session.lost.set()
        return False
    return True


def _said(state: LinkState) -> tuple[bool, str | None]:
    return state.connected, None if state.error is None else state.error.message


async def _close_quietly(nc: Any, timeout_s: float = 1.0) -> None:
    # After a failed TLS upgrade nats-py's close() waits forever for the replaced
    # transport; the socket is closed by then, so a bounded wait loses nothing.
    try:
        await asyncio.wait_for(nc.close(), timeout_s)
    except Exception as exc:  # closing a half-open client: nothing left to save
        log.debug("bus: closing the connection: %r", exc)
