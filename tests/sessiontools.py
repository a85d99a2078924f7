"""Session folders with a made-up conference in them, for the record's tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from captioner.events import Caption, Status
from captioner.record.session import SessionDir, input_lost, input_restored

VENUE = timezone(timedelta(hours=5))  # Tashkent
START = datetime(2025, 5, 1, 10, 0, 0, tzinfo=VENUE)
T0_NS = int(START.timestamp()) * 10**9

RU_WORDS = ("добрый день уважаемые коллеги сегодня мы обсуждаем изменение климата в "
            "центральной азии и сотрудничество между нашими странами водные ресурсы "
            "региона сокращаются").split()
EN_WORDS = ("good afternoon ladies and gentlemen today we will discuss climate finance for "
            "central asia and the role of development banks water resources are "
            "shrinking").split()


class Maker:
    """Builds committed captions with consecutive seq numbers."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, lang: str, text: str, start_s: float, end_s: float,
                 source: str = "floor", input_id: str | None = None) -> Caption:
        self.seq += 1
        return Caption(id=f"u{self.seq}", final=True, lang=lang, text=text, start_s=start_s,
                       end_s=end_s, emitted_ns=T0_NS + int((end_s + 1.0) * 1e9),
                       source=source,
                       input_id=input_id or ("booth" if source == "interpretation" else "floor"),
                       seq=self.seq)


def sentence(words: tuple[str, ...] | list[str], n: int, k: int) -> str:
    chosen = [words[(k * 7 + i * 3) % len(words)] for i in range(n)]
    return " ".join(chosen).capitalize() + "."


def make_session(root: Path, events: list[Caption | Status], title: str = "Климат и вода",
                 config: dict | None = None) -> SessionDir:
    session = SessionDir.create(root, title, START, config=config or {},
                                models={"asr": "whisper-base"}, inputs=["floor", "booth"])
    with session.open_journal() as journal:
        for event in events:
            assert journal.append(event)
    session.close(START + timedelta(hours=1, minutes=2, seconds=3))
    return session


def conference(make: Maker) -> list[Caption | Status]:
    """Russian floor with English machine translation, an English booth for part of it,
    an input gap, and captions short and long."""
    events: list[Caption | Status] = [Status("session_started", T0_NS)]
    t = 1.0
    for k in range(12):
        n = (1, 4, 9, 16, 25, 3)[k % 6]
        span = max(0.3, n * 0.4)
        events.append(make("ru", sentence(RU_WORDS, n, k), t, t + span))
        events.append(make("en", sentence(EN_WORDS, n, k), t, t + span, "machine"))
        if 4 <= k < 8:  # the booth interprets these, a couple of seconds behind
            events.append(make("en", "Booth: " + sentence(EN_WORDS, n, k + 1), t + 1.5,
                               t + 1.5 + span, "interpretation"))
        if k == 9:
            events.append(input_lost("booth", t, T0_NS + int(t * 1e9), "device unplugged"))
            events.append(input_restored("booth", t + 3.2, T0_NS + int((t + 3.2) * 1e9), 3.2))
        t += span + (0.2 if k % 3 else 3.0)
    return events


def parse_srt(text: str) -> list[tuple[float, float, list[str]]]:
    def secs(stamp: str) -> float:
        h, m, s = stamp.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].isdigit()
        start, end = lines[1].split(" --> ")
        cues.append((secs(start), secs(end), lines[2:]))
    return cues


def exported(session: SessionDir, suffix: str) -> Path:
    return session.export_dir / f"{session.name}{suffix}"

