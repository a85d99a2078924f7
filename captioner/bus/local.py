"""The in-process caption bus: one room and its audiences in one process.

Delivery is synchronous, on the event loop, in publish order; it never copies or
encodes an event. The bus keeps the latest committed captions (``history``) so that a
subscriber that joins late can catch up from a sequence number.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable

from captioner.bus.base import (
    CaptionBus,
    CommandHandler,
    FiguresHandler,
    Handler,
    Subscription,
)
from captioner.bus.messages import Ack, Command, Published, RoomFigures
from captioner.events import Caption, Status

log = logging.getLogger(__name__)

#: Committed captions a local bus keeps for catch-up.
DEFAULT_HISTORY = 10_000


class LocalBus(CaptionBus):
    """The embedded bus of a single room (no broker).

    Args:
        room: The room's id.
        history: Committed captions to keep for subscribers that catch up.
        retained: Committed captions from before this process (a resumed session),
            oldest first: a subscriber from sequence 0 gets them first.
    """

    def __init__(self, room: str = "room", *, history: int = DEFAULT_HISTORY,
                 retained: Iterable[Caption] = ()) -> None:
        self.room = room
        self._history: collections.deque[Published] = collections.deque(maxlen=history)
        self._subscriptions: list[Subscription] = []
        self._figure_subscriptions: list[Subscription] = []
        self._figures: RoomFigures | None = None
        self._commands: CommandHandler | None = None
        self._pending: collections.deque[Published] = collections.deque()
        self._delivering = False
        for caption in retained:
            if caption.final and caption.seq is not None:
                self._history.append(Published(room, caption))

    # -- the room side --------------------------------------------------------------------

    def publish(self, event: Caption | Status, *, held: bool = False) -> None:
        published = Published(self.room, event, held)
        if published.seq is not None and not held:
            self._history.append(published)
        # An event published by a subscriber while another is delivered waits for it:
        # every subscriber sees the same order.
        self._pending.append(published)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._pending:
                item = self._pending.popleft()
                for subscription in tuple(self._subscriptions):
                    subscription.deliver(item)
        finally:
            self._delivering = False

    def publish_figures(self, figures: RoomFigures) -> None:
        self._figures = figures
        for subscription in tuple(self._figure_subscriptions):
            if not subscription.closed:
                try:
                    subscription.handler(figures)
                except Exception:  # one broken subscriber must not stop the others
                    log.exception("figures subscriber %r failed", subscription.handler)

    def serve_commands(self, handler: CommandHandler) -> None:
        self._commands = handler

    # -- the audience side ----------------------------------------------------------------

    def subscribe(self, handler: Handler, *, since_seq: int | None = None,
                  held: bool = False) -> Subscription:
        last = self._history[-1].seq if self._history else 0
        subscription = Subscription(handler, since_seq=last if since_seq is None else since_seq,
                                    held=held, on_close=self._subscriptions.remove)
        if since_seq is not None:
            for published in tuple(self._history):
                subscription.deliver(published)  # skips what the subscriber already has
        self._subscriptions.append(subscription)
        return subscription

    def subscribe_figures(self, handler: FiguresHandler) -> Subscription:
        subscription = Subscription(handler, on_close=self._figure_subscriptions.remove)
        self._figure_subscriptions.append(subscription)
        return subscription

    @property
    def figures(self) -> RoomFigures | None:
        return self._figures

    async def command(self, command: Command) -> Ack:
        if self._commands is None:
            return Ack(command.id, command.name, changed=False,
                       error="the room does not take commands")
        return await self._commands(command)
