"""What the operator console and ``/metrics`` measure, from the events of a session.

* :class:`LatencyClock` (pure) turns a caption's stream times into a latency:
  ``emitted_at - (t0 + end_s / speed)``, where ``t0`` is the wall time of the first
  ``listening`` status (stream time 0).
* :class:`Dashboard` (pure) reduces events to what the console shows: input levels,
  latest latencies, warnings, the last captions per track, a short event log.
* :class:`CaptionMetrics` owns a private Prometheus ``CollectorRegistry`` (never the
  global one, so two sessions or tests never share counters): histograms and counters
  fed by :meth:`CaptionMetrics.observe`, plus figures read at scrape time through a
  :class:`LiveFigures` callback (viewers, queue depths, dropped audio).

Everything here runs on the event loop, per event, and is cheap: a dict update or a
histogram observation.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from captioner import states
from captioner.events import Caption, Status

#: Upper bounds of the latency histograms, seconds.
LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 30.0)
#: Statuses counted as errors (``captioner_errors_total{kind=<state>}``).
ERROR_STATES = states.ERRORS
#: Statuses the console's event log keeps (errors and warnings among them).
LOGGED_STATES = states.LOGGED
#: A level reading older than this is shown as stale (the capture publishes ~4 Hz).
LEVELS_STALE_S = 2.0


class LatencyClock:
    """Latency of captions from their times, for live input and files paced in real time.

    Args:
        speed: Pace of the source: 1 for live audio and real-time files, N for files
            played N times faster, 0 (as fast as possible) for no latency at all.
        offset_s: Returns what the pipeline adds to every stream time (a resumed
            session continues its clock: ``LivePipeline.time_offset_s``).
    """

    def __init__(self, speed: float = 1.0,
                 offset_s: Callable[[], float] = lambda: 0.0) -> None:
        self.speed = speed
        self.offset_s = offset_s
        self.t0_ns: int | None = None

    def observe(self, event: Caption | Status) -> None:
        """Takes stream time 0 from the first ``listening`` status."""
        if isinstance(event, Status) and event.state == "listening" and self.t0_ns is None:
            self.t0_ns = event.emitted_ns

    def latency_s(self, caption: Caption) -> float | None:
        """Seconds from the end of the captioned speech to the caption's emission.

        Returns:
            The latency (never negative), or None before ``listening`` or when the
            source is not paced by the clock.
        """
        if self.t0_ns is None or self.speed <= 0:
            return None
        spoken_ns = self.t0_ns + (caption.end_s - self.offset_s()) / self.speed * 1e9
        return max(0.0, (caption.emitted_ns - spoken_ns) / 1e9)


@dataclass
class _Latest:
    """The last latency and a running window for its mean."""

    window: deque[float] = field(default_factory=lambda: deque(maxlen=20))
    count: int = 0

    def add(self, value: float) -> None:
        self.window.append(value)
        self.count += 1

    def view(self) -> dict[str, Any]:
        if not self.window:
            return {"last_s": None, "avg_s": None, "count": 0}
        return {"last_s": round(self.window[-1], 2),
                "avg_s": round(sum(self.window) / len(self.window), 2), "count": self.count}


@dataclass
class _Input:
    levels: dict[str, Any] | None = None
    levels_ns: int = 0
    lost: bool = False
    warnings: set[str] = field(default_factory=set)
    overflows: int = 0
    dropped: int = 0
    speech_dropped: dict[str, int] = field(default_factory=dict)


class Dashboard:
    """What the operator sees, reduced from the session's events (pure).

    Args:
        inputs: Input ids known at start (more appear as their events arrive).
        speed: Pace of the source, for :class:`LatencyClock`.
        offset_s: The pipeline's stream-time offset, for :class:`LatencyClock`.
        lines: Committed captions kept per track for the "on screens" preview.
        log_size: Entries kept in the event log.
    """

    def __init__(self, inputs: Iterable[str] = (), *, speed: float = 1.0,
                 offset_s: Callable[[], float] = lambda: 0.0, lines: int = 3,
                 log_size: int = 40) -> None:
        self.clock = LatencyClock(speed, offset_s)
        self.inputs: dict[str, _Input] = {i: _Input() for i in inputs}
        self.latency = {"partial": _Latest(), "committed": _Latest()}
        self.committed = 0
        self.partials = 0
        self.errors = 0
        self.listening = False
        self.stopped = False
        self.last_seq: int | None = None
        self.translation_unavailable: dict[str, str] = {}
        self.translation_errors = 0
        self.recent: dict[str, deque[str]] = {}
        self.partial_text: dict[str, str] = {}
        self._lines = lines
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)

    def _input(self, input_id: str | None) -> _Input:
        key = input_id or next(iter(self.inputs), "floor")
        entry = self.inputs.get(key)
        if entry is None:
            entry = self.inputs[key] = _Input()
        return entry

    def observe(self, event: Caption | Status) -> float | None:
        """Takes one event.

        Returns:
            The caption's latency in seconds, when the event is a caption and it is
            known (so :class:`CaptionMetrics` measures it only once).
        """
        self.clock.observe(event)
        if isinstance(event, Caption):
            return self._caption(event)
        self._status(event)
        return None

    def _caption(self, caption: Caption) -> float | None:
        latency = self.clock.latency_s(caption)
        kind = "committed" if caption.final else "partial"
        if latency is not None and (caption.final or caption.text):
            self.latency[kind].add(latency)
        if caption.final:
            self.committed += 1
            if caption.seq is not None:
                self.last_seq = caption.seq
            ring = self.recent.setdefault(caption.lang, deque(maxlen=self._lines))
            ring.append(caption.text)
            self.partial_text.pop(caption.lang, None)
        else:
            self.partials += 1
            if caption.text:
                self.partial_text[caption.lang] = caption.text
            else:
                self.partial_text.pop(caption.lang, None)
        return latency

    def _status(self, status: Status) -> None:
        state, detail = status.state, status.detail
        if state == "levels":
            entry = self._input(status.input_id)
            entry.levels = {k: detail.get(k) for k in
                            ("rms_dbfs", "peak_dbfs", "clipping", "silent")}
            entry.levels_ns = status.emitted_ns
            entry.overflows = int(detail.get("overflows") or 0)
            entry.dropped = int(detail.get("dropped") or 0)
            return
        if state == "listening":
            self.listening, self.stopped = True, False
            for entry in self.inputs.values():
                entry.lost = False
        elif state in ("stopped", "ended"):
            self.stopped = True
        elif state == "input_lost":
            targets = [self._input(status.input_id)] if status.input_id else list(
                self.inputs.values())
            for entry in targets:
                entry.lost = True
        elif states.ends(state, states.INPUT_LOST):
            targets = [self._input(status.input_id)] if status.input_id else list(
                self.inputs.values())
            for entry in targets:
                entry.lost = False
        elif state in ("warning", "warning_cleared"):
            kind = str(detail.get("kind", "warning"))
            warnings = self._input(status.input_id).warnings
            if state == "warning":
                warnings.add(kind)
            else:
                warnings.discard(kind)
        elif state == "translation_unavailable":
            self.translation_unavailable[str(detail.get("lang", "?"))] = str(
                detail.get("reason", ""))
        elif states.ends(state, states.TRANSLATION_UNAVAILABLE):
            self.translation_unavailable.pop(str(detail.get("lang", "?")), None)
        elif state == "translation_error":
            self.translation_errors += 1
        elif state == states.SPEECH_DROPPED:
            dropped = self._input(status.input_id).speech_dropped
            reason = str(detail.get("reason", "no words"))
            dropped[reason] = dropped.get(reason, 0) + 1
        elif state == "clear":
            self.recent.clear()
            self.partial_text.clear()
        if state in ERROR_STATES:
            self.errors += 1
        if state in LOGGED_STATES:
            self.log.append(_log_entry(status))

    def snapshot(self, now_ns: int | None = None) -> dict[str, Any]:
        """The dashboard as JSON-ready data (levels get their age in seconds)."""
        now = time.time_ns() if now_ns is None else now_ns
        inputs = {}
        for input_id, entry in self.inputs.items():
            levels = None
            if entry.levels is not None:
                age = max(0.0, (now - entry.levels_ns) / 1e9)
                levels = {**entry.levels, "age_s": round(age, 1),
                          "stale": age > LEVELS_STALE_S}
            inputs[input_id] = {"levels": levels, "lost": entry.lost,
                                "warnings": sorted(entry.warnings),
                                "overflows": entry.overflows, "dropped": entry.dropped,
                                "speech_dropped": dict(entry.speech_dropped)}
        return {
            "listening": self.listening,
            "stopped": self.stopped,
            "inputs": inputs,
            "latency": {kind: latest.view() for kind, latest in self.latency.items()},
            "committed": self.committed,
            "last_seq": self.last_seq,
            "errors": self.errors,
            "translation_unavailable": dict(self.translation_unavailable),
            "translation_errors": self.translation_errors,
            "screens": {lang: {"lines": list(self.recent.get(lang, ())),
                               "partial": self.partial_text.get(lang, "")}
                        for lang in sorted({*self.recent, *self.partial_text})},
            "log": list(self.log),
        }


def _log_entry(status: Status) -> dict[str, Any]:
    """One line of the console's event log: time, severity and words."""
    state, detail = status.state, status.detail
    level = "error" if state in ERROR_STATES else (
        "warn" if state == "warning" else "info")
    parts = [state.replace("_", " ")]
    if status.input_id:
        parts.append(status.input_id)
    for key in ("lang", "kind", "message", "text", "reason", "error", "name", "title"):
        value = detail.get(key)
        if value not in (None, ""):
            parts.append(str(value)[:120])
    return {"at": round(status.emitted_ns / 1e9, 3), "level": level, "state": state,
            "text": " · ".join(parts)}


@dataclass(frozen=True)
class LiveFigures:
    """Figures read at scrape time, from the objects that hold them.

    Attributes:
        viewers: Viewers connected now.
        dropped_viewers: Viewers cut off for being too slow, since start.
        translation_queue: Sentences waiting for machine translation.
        asr_dropped: Input -> audio chunks dropped from its recognition queue.
        asr_backlog: Input -> chunks waiting in its recognition queue.
        asr_passes: Input -> Whisper passes run.
        inputs_enabled: Input -> whether the operator has it switched on.
        paused: Whether the screens are paused.
        held: Committed captions kept off the screens while paused.
        consoles: Operator consoles connected.
    """

    viewers: int = 0
    dropped_viewers: int = 0
    translation_queue: int = 0
    asr_dropped: dict[str, int] = field(default_factory=dict)
    asr_backlog: dict[str, int] = field(default_factory=dict)
    asr_passes: dict[str, int] = field(default_factory=dict)
    inputs_enabled: dict[str, bool] = field(default_factory=dict)
    paused: bool = False
    held: int = 0
    consoles: int = 0


class _LiveCollector(Collector):
    """Reads the live figures and the dashboard's latest levels at each scrape."""

    def __init__(self, live: Callable[[], LiveFigures], dashboard: Dashboard) -> None:
        self._live = live
        self._dashboard = dashboard

    def collect(self) -> Iterator[Metric]:
        f = self._live()
        yield GaugeMetricFamily("captioner_viewers", "Viewers connected", value=f.viewers)
        yield CounterMetricFamily("captioner_viewers_dropped",
                                  "Viewers cut off for being too slow",
                                  value=f.dropped_viewers)
        yield GaugeMetricFamily("captioner_translation_queue_depth",
                                "Sentences waiting for machine translation",
                                value=f.translation_queue)
        yield GaugeMetricFamily("captioner_paused", "1 while the screens are paused",
                                value=int(f.paused))
        yield CounterMetricFamily("captioner_held_captions",
                                  "Committed captions kept off the screens while paused",
                                  value=f.held)
        yield GaugeMetricFamily("captioner_operator_consoles",
                                "Operator consoles connected", value=f.consoles)
        per_input = [
            (CounterMetricFamily, "captioner_asr_dropped_chunks",
             "Audio chunks dropped from an input's recognition queue", f.asr_dropped),
            (GaugeMetricFamily, "captioner_asr_backlog_chunks",
             "Audio chunks waiting in an input's recognition queue", f.asr_backlog),
            (CounterMetricFamily, "captioner_asr_passes", "Whisper passes run",
             f.asr_passes),
            (GaugeMetricFamily, "captioner_input_enabled",
             "1 while the operator has the input switched on",
             {k: int(v) for k, v in f.inputs_enabled.items()}),
        ]
        for family, name, doc, values in per_input:
            metric = family(name, doc, labels=["input"])
            for input_id, value in sorted(values.items()):
                metric.add_metric([input_id], value)
            yield metric
        overflows = CounterMetricFamily(
            "captioner_audio_overflows", "Sound-card input overflows reported by the driver",
            labels=["input"])
        dropped = CounterMetricFamily(
            "captioner_audio_dropped_blocks",
            "Capture blocks dropped between the sound card and the pipeline", labels=["input"])
        level = GaugeMetricFamily("captioner_input_level_dbfs", "Latest input level",
                                  labels=["input", "measure"])
        for input_id, entry in sorted(self._dashboard.inputs.items()):
            if entry.levels is None:
                continue
            overflows.add_metric([input_id], entry.overflows)
            dropped.add_metric([input_id], entry.dropped)
            for measure in ("rms", "peak"):
                value = entry.levels.get(f"{measure}_dbfs")
                if isinstance(value, (int, float)):
                    level.add_metric([input_id, measure], value)
        yield overflows
        yield dropped
        yield level


class CaptionMetrics:
    """The Prometheus metrics of one session, in a registry of their own.

    Args:
        dashboard: Where latencies and levels are computed (shared with the console);
            :meth:`observe` feeds it, so it needs no sink of its own.
        live: Returns the figures read at scrape time; none if None.
    """

    def __init__(self, dashboard: Dashboard,
                 live: Callable[[], LiveFigures] | None = None) -> None:
        self.dashboard = dashboard
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "captioner_caption_latency_seconds",
            "From the end of the captioned speech to the caption's emission",
            ["kind", "source"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.committed = Counter("captioner_committed_captions",
                                 "Committed captions emitted", ["lang", "source"],
                                 registry=self.registry)
        self.partials = Counter("captioner_partial_captions", "Partial captions emitted",
                                ["lang"], registry=self.registry)
        self.errors = Counter("captioner_errors", "Errors by kind", ["kind"],
                              registry=self.registry)
        self.warnings = Counter("captioner_input_warnings",
                                "Input warnings (clipping, silent channel)",
                                ["input", "kind"], registry=self.registry)
        self.speech_dropped = Counter("captioner_speech_dropped",
                                      "Utterances heard as speech that gave no words",
                                      ["input", "reason"], registry=self.registry)
        self.registry.register(_LiveCollector(live or LiveFigures, dashboard))

    def observe(self, event: Caption | Status) -> None:
        """Measures one event; a sink of the pipeline. Feeds the dashboard too."""
        latency = self.dashboard.observe(event)
        if isinstance(event, Caption):
            if event.final:
                self.committed.labels(event.lang, event.source).inc()
            else:
                self.partials.labels(event.lang).inc()
            if latency is not None and (event.final or event.text):
                kind = "committed" if event.final else "partial"
                self.latency.labels(kind, event.source).observe(latency)
            return
        if event.state in ERROR_STATES:
            self.errors.labels(event.state).inc()
        elif event.state == "warning":
            self.warnings.labels(event.input_id or "", str(event.detail.get("kind", ""))).inc()
        elif event.state == states.SPEECH_DROPPED:
            self.speech_dropped.labels(event.input_id or "",
                                       str(event.detail.get("reason", "no words"))).inc()

    def error(self, kind: str) -> None:
        """Counts an error that is not a status event (a failed command...)."""
        self.errors.labels(kind).inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry as a scrape answer.

        Args:
            accept: The scraper's ``Accept`` header: OpenMetrics when it asks for it,
                else the Prometheus text format.

        Returns:
            ``(body, content_type)``.
        """
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
