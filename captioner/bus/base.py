"""The caption bus interface, shared by the in-process bus and any bus over a network.

Delivery is at-least-once: a bus may hand a committed caption to a subscriber again
(after a reconnect, a republish from the journal); every :class:`Subscription` drops a
committed caption whose sequence number it has already delivered, so its handler sees
each one exactly once, in order. Partial captions and statuses are live only.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable

from captioner.bus.messages import Ack, Command, Published, RoomFigures
from captioner.events import Caption, Status

log = logging.getLogger(__name__)

Handler = Callable[[Published], None]
FiguresHandler = Callable[[RoomFigures], None]
CommandHandler = Callable[[Command], Awaitable[Ack]]


class Subscription:
    """One subscriber's place on the bus: its handler, and the last caption it got.

    Args:
        handler: Called with each event, in order, on the bus's event loop.
        since_seq: Committed captions up to this sequence number count as delivered.
        held: Whether the handler also gets the captions held back from the screens.
        on_close: Called once when the subscription is closed.
    """

    def __init__(self, handler: Handler, since_seq: int = 0, *, held: bool = False,
                 on_close: Callable[[Subscription], None] | None = None) -> None:
        self.handler = handler
        self.last_seq = since_seq
        self.held = held
        self.closed = False
        self._on_close = on_close

    def deliver(self, published: Published) -> bool:
        """Hands one event to the handler unless it is a caption already delivered.

        Returns:
            Whether the handler was called. A handler that raises is logged and stays
            subscribed: one broken subscriber must not stop the others.
        """
        if self.closed or (published.held and not self.held):
            return False
        seq = published.seq
        if seq is not None:
            if seq <= self.last_seq:
                return False
            self.last_seq = seq
        try:
            self.handler(published)
        except Exception:
            log.exception("bus subscriber %r failed", self.handler)
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close(self)


class CaptionBus(abc.ABC):
    """The seam between one room and its audiences.

    Room side: :meth:`publish`, :meth:`publish_figures`, :meth:`serve_commands`.
    Audience side: :meth:`subscribe`, :meth:`subscribe_figures`, :attr:`figures`,
    :meth:`command`.

    Attributes:
        room: The room's id; with the sequence number it names a committed caption
            across the venue (:attr:`Published.message_id`).
    """

    room: str

    # -- the room side --------------------------------------------------------------------

    @abc.abstractmethod
    def publish(self, event: Caption | Status, *, held: bool = False) -> None:
        """Publishes one event; committed captions come with their ``seq``, in order.
        ``held`` marks a caption the screen gate held back (see :class:`Published`).
        Never blocks and never raises for a subscriber's or the network's sake."""

    @abc.abstractmethod
    def publish_figures(self, figures: RoomFigures) -> None:
        """Replaces the room's figures snapshot (latest wins; none are replayed)."""

    @abc.abstractmethod
    def serve_commands(self, handler: CommandHandler) -> None:
        """Sets the room's command handler (one per room)."""

    # -- the audience side ----------------------------------------------------------------

    @abc.abstractmethod
    def subscribe(self, handler: Handler, *, since_seq: int | None = None,
                  held: bool = False) -> Subscription:
        """Follows the room's events.

        Args:
            handler: Called with each event, in order.
            since_seq: None follows from now on. A number first replays the committed
                captions after it that the bus still holds, then follows live.
            held: Also deliver the captions held back from the screens (live only).
        """

    @abc.abstractmethod
    def subscribe_figures(self, handler: FiguresHandler) -> Subscription:
        """Calls ``handler`` with each figures snapshot the room publishes."""

    @property
    @abc.abstractmethod
    def figures(self) -> RoomFigures | None:
        """The latest figures snapshot; None before the room published one."""

    @abc.abstractmethod
    async def command(self, command: Command) -> Ack:
        """Sends a command to the room and waits for its acknowledgement. A room that
        cannot be reached answers with an :class:`Ack` whose ``error`` says so."""

    async def close(self) -> None:
        """Releases the bus's resources (connections, tasks)."""
        return None
