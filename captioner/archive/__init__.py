"""The central archive: every room on the bus written down as session folders, in one place.

``captioner archive --bus URL --sessions DIR`` follows each room's JetStream stream with a
durable consumer of its own (:mod:`captioner.archive.consumer`) and writes the room's
record under ``DIR/<room>/<session folder>/`` in the layout ``captioner export`` reads
(:mod:`captioner.archive.folders`); :mod:`captioner.archive.archiver` finds the rooms as
they appear and reports what it does.
"""
