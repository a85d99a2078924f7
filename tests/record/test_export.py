"""The pure subtitle writers, and the WebVTT that `captioner transcribe` writes."""

import wave

import numpy as np

import captioner.recognition.transcribe as transcribe
from captioner.config import Config
from captioner.events import Segment
from captioner.layout import Cue
from captioner.record.export import to_srt, to_vtt


def cue_texts(vtt: str) -> list[str]:
    """The text lines of every cue: the blocks after the header, less their timing line."""
    blocks = vtt.rstrip("\n").split("\n\n")[1:]
    return [line for block in blocks for line in block.split("\n")[1:]]


def test_vtt_escapes_markup_and_the_timing_arrow():
    vtt = to_vtt([Cue(1.0, 3.0, ("a --> b", "<b>bold</b> & co"))])
    assert cue_texts(vtt) == ["a --&gt; b", "&lt;b&gt;bold&lt;/b&gt; &amp; co"]


def test_vtt_cue_text_never_holds_a_timing_arrow():
    vtt = to_vtt([Cue(0.0, 2.0, ("-->",)), Cue(2.0, 4.0, ("x->y", "<-->"))])
    timing = [line for line in vtt.splitlines() if "-->" in line]
    assert timing == ["00:00:00.000 --> 00:00:02.000", "00:00:02.000 --> 00:00:04.000"]


def test_vtt_escapes_an_ampersand_once():
    assert cue_texts(to_vtt([Cue(0.0, 1.0, ("&lt; is <",))])) == ["&amp;lt; is &lt;"]


def test_srt_keeps_text_as_it_is():
    assert to_srt([Cue(1.0, 3.0, ("a --> b & <c>",))]) == (
        "1\n00:00:01,000 --> 00:00:03,000\na --> b & <c>\n")


class _Engine:
    """Hears one sentence in whatever audio it is given."""

    languages = ("en",)

    def transcribe(self, audio, language, offset_s=0.0, **kwargs):
        return [Segment("Use <b> & x --> y now.", offset_s, offset_s + 2.0, "en")], "en"


def test_transcribe_writes_escaped_vtt(tmp_path, monkeypatch):
    path = tmp_path / "talk.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(16000 * 3, dtype=np.int16).tobytes())
    # Silence has no speech for the VAD to find; one span over the file stands in.
    monkeypatch.setattr(transcribe, "speech_spans",
                        lambda audio, **kw: [transcribe.Span(0, len(audio))])
    result = transcribe.transcribe_file(_Engine(), path, Config(), "en", ("vtt", "srt"),
                                        tmp_path / "out", beam_size=1)
    assert result.ok, result.error
    vtt = (tmp_path / "out" / "talk.vtt").read_text(encoding="utf-8")
    assert " ".join(cue_texts(vtt)) == "Use &lt;b&gt; &amp; x --&gt; y now."
    srt = (tmp_path / "out" / "talk.srt").read_text(encoding="utf-8")
    assert "Use <b> & x --> y now." in srt.replace("\n", " ")
