"""Latency, the operator dashboard and the Prometheus exposition, from events (pure)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from captioner.delivery.metrics import CaptionMetrics, Dashboard, LatencyClock, LiveFigures
from captioner.events import Caption, Status

S = 1_000_000_000
T0 = 1_764_190_000 * S


def cap(text: str = "text", *, final: bool = True, end_s: float = 10.0, emitted_s: float = 11.0,
        lang: str = "en", source: str = "floor", id: str = "u1") -> Caption:
    return Caption(id=id, final=final, lang=lang, text=text, start_s=end_s - 1, end_s=end_s,
                   emitted_ns=T0 + int(emitted_s * S), source=source,
                   seq=1 if final else None)


def st(state: str, at_s: float = 0.0, input_id: str | None = None, **detail) -> Status:
    return Status(state, T0 + int(at_s * S), input_id=input_id, detail=detail)


def levels(input_id: str, rms: float, peak: float, at_s: float = 1.0, **extra) -> Status:
    return st("levels", at_s, input_id, rms_dbfs=rms, peak_dbfs=peak, clipping=False,
              silent=False, overflows=extra.get("overflows", 0),
              dropped=extra.get("dropped", 0))


def test_latency_is_emission_minus_the_wall_time_of_the_speech_end():
    clock = LatencyClock()
    assert clock.latency_s(cap()) is None  # no stream time 0 yet
    clock.observe(st("listening"))
    clock.observe(st("listening", 5.0))  # only the first one sets t0
    assert clock.latency_s(cap(end_s=10.0, emitted_s=11.5)) == pytest.approx(1.5)
    assert clock.latency_s(cap(end_s=10.0, emitted_s=9.0)) == 0.0


def test_latency_of_a_resumed_session_discounts_its_clock_offset():
    offset = [100.0]
    clock = LatencyClock(offset_s=lambda: offset[0])
    clock.observe(st("listening"))
    assert clock.latency_s(cap(end_s=110.0, emitted_s=11.0)) == pytest.approx(1.0)


def test_latency_follows_the_pace_of_a_file_and_is_unknown_unpaced():
    fast = LatencyClock(speed=2.0)
    fast.observe(st("listening"))
    assert fast.latency_s(cap(end_s=10.0, emitted_s=6.0)) == pytest.approx(1.0)
    unpaced = LatencyClock(speed=0)
    unpaced.observe(st("listening"))
    assert unpaced.latency_s(cap()) is None


def test_dashboard_levels_warnings_and_loss():
    dash = Dashboard(["floor", "booth"])
    dash.observe(levels("floor", -23.4, -6.1, at_s=1.0, overflows=2, dropped=1))
    dash.observe(st("warning", 1.0, "booth", kind="silent_channel"))
    dash.observe(st("input_lost", 2.0, error="unplugged"))  # device-wide
    snap = dash.snapshot(now_ns=T0 + int(1.5 * S))
    floor, booth = snap["inputs"]["floor"], snap["inputs"]["booth"]
    assert floor["levels"] == {"rms_dbfs": -23.4, "peak_dbfs": -6.1, "clipping": False,
                               "silent": False, "age_s": 0.5, "stale": False}
    assert (floor["overflows"], floor["dropped"]) == (2, 1)
    assert booth["levels"] is None and booth["warnings"] == ["silent_channel"]
    assert floor["lost"] and booth["lost"]
    dash.observe(st("input_restored", 3.0))
    dash.observe(st("warning_cleared", 3.0, "booth", kind="silent_channel"))
    snap = dash.snapshot(now_ns=T0 + 10 * S)
    assert snap["inputs"]["floor"]["levels"]["stale"]
    assert not snap["inputs"]["floor"]["lost"] and snap["inputs"]["booth"]["warnings"] == []
    assert [e["state"] for e in snap["log"]] == [
        "warning", "input_lost", "input_restored", "warning_cleared"]
    assert snap["log"][1]["level"] == "error" and "unplugged" in snap["log"][1]["text"]


def test_dashboard_latency_preview_and_clear():
    dash = Dashboard(["floor"])
    dash.observe(st("listening"))
    dash.observe(cap("Добрый", final=False, lang="ru", end_s=2.0, emitted_s=2.5, id="a"))
    dash.observe(cap("Добрый день.", lang="ru", end_s=3.0, emitted_s=5.0, id="a"))
    dash.observe(cap("Good afternoon.", lang="en", end_s=3.0, emitted_s=6.0, source="machine"))
    dash.observe(cap("Сегодня", final=False, lang="ru", end_s=6.0, emitted_s=6.8, id="b"))
    snap = dash.snapshot()
    assert snap["latency"]["partial"] == {"last_s": 0.8, "avg_s": 0.65, "count": 2}
    assert snap["latency"]["committed"] == {"last_s": 3.0, "avg_s": 2.5, "count": 2}
    assert snap["screens"] == {"en": {"lines": ["Good afternoon."], "partial": ""},
                               "ru": {"lines": ["Добрый день."], "partial": "Сегодня"}}
    assert snap["committed"] == 2 and snap["listening"]
    dash.observe(st("clear", 7.0))
    assert dash.snapshot()["screens"] == {}


def scrape(metrics: CaptionMetrics) -> dict[str, list]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}


def test_exposition_parses_and_counts():
    dash = Dashboard(["floor", "booth"])
    figures = LiveFigures(viewers=7, dropped_viewers=1, translation_queue=3,
                          asr_dropped={"floor": 4}, asr_backlog={"floor": 2},
                          asr_passes={"floor": 10}, inputs_enabled={"floor": True,
                                                                    "booth": False},
                          paused=True, held=5, consoles=1)
    metrics = CaptionMetrics(dash, live=lambda: figures)
    for event in (st("listening"), cap(final=False, end_s=1.0, emitted_s=1.6),
                  cap(end_s=2.0, emitted_s=4.0), cap(lang="ru", source="machine"),
                  levels("floor", -20.0, -3.0, overflows=6, dropped=2),
                  st("translation_error", 3.0, error="boom"),
                  st("warning", 3.0, "floor", kind="clipping")):
        metrics.observe(event)
    metrics.error("control_auth")
    families = scrape(metrics)

    def value(family: str, sample: str, **labels) -> float:
        for s in families[family]:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise AssertionError(f"no {sample} {labels} in {families[family]}")

    assert value("captioner_caption_latency_seconds", "captioner_caption_latency_seconds_count",
                 kind="partial", source="floor") == 1
    assert value("captioner_caption_latency_seconds", "captioner_caption_latency_seconds_sum",
                 kind="committed", source="floor") == pytest.approx(2.0)
    assert value("captioner_caption_latency_seconds",
                 "captioner_caption_latency_seconds_bucket", kind="committed",
                 source="floor", le="2.0") == 1
    assert value("captioner_committed_captions", "captioner_committed_captions_total",
                 lang="ru", source="machine") == 1
    assert value("captioner_errors", "captioner_errors_total", kind="translation_error") == 1
    assert value("captioner_errors", "captioner_errors_total", kind="control_auth") == 1
    assert value("captioner_input_warnings", "captioner_input_warnings_total",
                 input="floor", kind="clipping") == 1
    assert value("captioner_viewers", "captioner_viewers") == 7
    assert value("captioner_viewers_dropped", "captioner_viewers_dropped_total") == 1
    assert value("captioner_translation_queue_depth", "captioner_translation_queue_depth") == 3
    assert value("captioner_audio_overflows", "captioner_audio_overflows_total",
                 input="floor") == 6
    assert value("captioner_audio_dropped_blocks", "captioner_audio_dropped_blocks_total",
                 input="floor") == 2
    assert value("captioner_asr_dropped_chunks", "captioner_asr_dropped_chunks_total",
                 input="floor") == 4
    assert value("captioner_input_enabled", "captioner_input_enabled", input="booth") == 0
    assert value("captioner_input_level_dbfs", "captioner_input_level_dbfs", input="floor",
                 measure="peak") == -3.0
    assert value("captioner_paused", "captioner_paused") == 1
    assert value("captioner_held_captions", "captioner_held_captions_total") == 5


def test_each_metrics_object_has_its_own_registry():
    a, b = CaptionMetrics(Dashboard()), CaptionMetrics(Dashboard())
    a.observe(cap())
    assert scrape(b)["captioner_committed_captions"] == []
    assert scrape(a)["captioner_committed_captions"]


def test_openmetrics_when_the_scraper_asks():
    body, content_type = CaptionMetrics(Dashboard()).exposition(
        "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_translation_and_recording_states_in_the_dashboard_and_the_counters():
    dash = Dashboard(["floor"])
    metrics = CaptionMetrics(dash)
    for event in (st("translation_unavailable", 1.0, lang="ru", reason="no en->ru package"),
                  st("translation_available", 1.0, lang="en", engine="whisper-translate"),
                  st("translation_degraded", 1.0, lang="en", reason="broken package"),
                  st("recording_error", 2.0, component="journal", error="disk full"),
                  st("recording_ok", 3.0, component="journal"),
                  st("session_resumed", 0.5, name="s", after_seq=4)):
        metrics.observe(event)
    snap = dash.snapshot()
    assert snap["translation_unavailable"] == {"ru": "no en->ru package"}
    metrics.observe(st("translation_available", 4.0, lang="ru", engine="argos:en-ru"))
    assert dash.snapshot()["translation_unavailable"] == {}
    assert snap["errors"] == 3
    assert [(e["state"], e["level"]) for e in snap["log"]] == [
        ("translation_unavailable", "error"), ("translation_available", "info"),
        ("translation_degraded", "error"), ("recording_error", "error"),
        ("recording_ok", "info"), ("session_resumed", "info")]
    errors = {s.labels["kind"]: s.value for s in scrape(metrics)["captioner_errors"]
              if s.name == "captioner_errors_total"}
    assert errors == {"translation_unavailable": 1, "translation_degraded": 1,
                      "recording_error": 1}


def test_input_ok_is_input_restored_by_another_name():
    dash = Dashboard(["floor"])
    dash.observe(st("input_lost", 1.0, "floor"))
    dash.observe(st("input_ok", 2.0, "floor"))
    assert not dash.snapshot()["inputs"]["floor"]["lost"]


def test_speech_that_gave_no_words_is_counted_by_input_and_reason():
    dash = Dashboard(["floor"])
    metrics = CaptionMetrics(dash)
    for reason in ("low confidence", "low confidence", "no words"):
        metrics.observe(st("speech_dropped", 5.0, "floor", start_s=1.0, end_s=4.0,
                           reason=reason, tried=["ru", "en"]))
    assert dash.snapshot()["inputs"]["floor"]["speech_dropped"] == {"low confidence": 2,
                                                                    "no words": 1}
    samples = {(s.labels.get("reason"), s.value)
               for s in scrape(metrics)["captioner_speech_dropped"]
               if s.name == "captioner_speech_dropped_total"}
    assert samples == {("low confidence", 2.0), ("no words", 1.0)}
    # Kept in the console's log, not counted as an error of the system.
    assert dash.log[-1]["level"] == "info" and dash.errors == 0
