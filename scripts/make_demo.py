"""Builds the demo recording: a two-channel bilingual session, synthesised.

Channel 1 is the floor: speakers alternate between Russian and English. Channel 2 is
the interpreters' booth: each floor utterance interpreted into the other language,
starting about 2 s after the floor speaker starts. The text is ours, written for a
climate side event of Central Asian countries at a COP pavilion.

Usage: .venv/bin/python scripts/make_demo.py [OUT]  (needs festival, festvox-ru, espeak-ng)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from captioner.synth import speak_samples

SR = 16000
LAG_S = 2.0

# (floor language, floor text, interpretation in the other language)
SCRIPT = [
    ("ru", "Добрый день, уважаемые коллеги. Добро пожаловать в павильон Центральной Азии.",
     "Good afternoon, dear colleagues. Welcome to the Central Asia pavilion."),
    ("en", "Thank you. Our bank is ready to support water projects in the region.",
     "Спасибо. Наш банк готов поддержать водные проекты в регионе."),
    ("ru", "Изменение климата уже влияет на ледники и на сельское хозяйство.",
     "Climate change is already affecting glaciers and agriculture."),
    ("en", "We will present the new national climate plans of the five countries.",
     "Мы представим новые национальные климатические планы пяти стран."),
    ("ru", "Мы предлагаем создать общий фонд для адаптации к изменению климата.",
     "We propose to create a joint fund for adaptation to climate change."),
]


def build() -> np.ndarray:
    floor: list[np.ndarray] = []
    booth_events: list[tuple[float, np.ndarray]] = []
    t = 0.5
    floor.append(np.zeros(int(t * SR), np.float32))
    for lang, text, interp in SCRIPT:
        speech = speak_samples(text, lang)
        booth_events.append((t + LAG_S, speak_samples(interp, "en" if lang == "ru" else "ru")))
        floor += [speech, np.zeros(int(1.5 * SR), np.float32)]
        t += len(speech) / SR + 1.5
    floor_audio = np.concatenate(floor)
    end = max(start + len(a) / SR for start, a in booth_events) + 1.0
    total = int(max(len(floor_audio) / SR, end) * SR)
    out = np.zeros((total, 2), np.float32)
    out[: len(floor_audio), 0] = floor_audio
    cursor = 0
    for start, audio in booth_events:
        # The interpreter waits for the previous interpretation to finish.
        begin = max(int(start * SR), cursor)
        stop = min(begin + len(audio), total)
        out[begin:stop, 1] = audio[: stop - begin]
        cursor = stop + int(0.3 * SR)
    return out


def main() -> int:
    import soundfile

    target = Path(sys.argv[1] if len(sys.argv) > 1 else
                  Path(__file__).resolve().parent.parent / "captioner/data/demo_session.ogg")
    audio = build()
    soundfile.write(str(target), audio, SR, format="OGG", subtype="VORBIS")
    print(f"wrote {target}: {len(audio) / SR:.1f} s, 2 channels (floor, booth)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
