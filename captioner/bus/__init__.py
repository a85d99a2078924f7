"""The caption bus: the one seam between a room and its audiences.

The room side publishes every event once, after it is sequenced and journaled and has
passed the screen gate; the audience side (the viewers' server, ``--print``, metrics,
the operator console) subscribes, from a sequence number when it needs catch-up.
Operator commands travel the other way as typed commands with typed acknowledgements,
and the room publishes a typed snapshot of its figures a few times a second.

:class:`~captioner.bus.base.CaptionBus` is the interface; :class:`~captioner.bus.local.LocalBus`
the in-process implementation every single-room run uses. Over NATS JetStream
(:mod:`captioner.bus.jetstream`, docs/deploy.md) a room's
:class:`~captioner.bus.publisher.RoomPublisher` forwards its local bus to the room's
stream and a serving edge reads it back as a
:class:`~captioner.bus.edge.JetStreamBus`.
"""
