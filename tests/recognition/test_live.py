"""The live worker, with a scripted decoder (no model): the beam of each pass, the
language hint, and the final pass, where speech that reads as nothing is
decoded again in the other language, then reported, never silently lost."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from captioner.config import load_config
from captioner.events import AudioChunk, Caption, Status, Word
from captioner.recognition.decoding import PassResult
from captioner.recognition.live import InputWorker
from captioner.recognition.streaming import StreamingParams
from captioner.room.build import live_params


class TwoLanguages:
    languages = ("ru", "en")


def words(text: str, start: float = 1.0) -> list[Word]:
    return [Word(f" {w}", start + i * 0.4, start + i * 0.4 + 0.35)
            for i, w in enumerate(text.split())]


def final_pass(script: dict, *, speech_s: float = 3.0, forced: str | None = None):
    """Runs an utterance's final pass (speech from 1.0 s on) with ``script``: language
    -> the pass's result. Returns what was emitted, the languages decoded, the worker."""
    tried: list[str | None] = []

    def decode(audio, offset_s, lang, prompts, hotwords="", final=False, *rest):
        tried.append(lang)
        return script[lang or "ru"]

    out: list = []
    with ThreadPoolExecutor(1) as pool:
        worker = InputWorker("floor", TwoLanguages(), pool, pool, out.append,
                             forced_language=lambda: forced)
        worker._decode = decode
        end_s = 1.0 + speech_s + worker.params.tail_s
        worker._audio = np.zeros(int(16000 * (end_s + 0.5)), dtype=np.float32)
        worker._utt_start_s = 1.0
        worker.policy.start_utterance(0.0, 1.0)
        worker.policy.set_language(forced or "ru", locked=True)
        asyncio.run(_final(worker, end_s))
    return out, tried, worker


async def _final(worker: InputWorker, end_s: float) -> None:
    await worker._final_pass(asyncio.get_running_loop(), end_s)


def committed(out) -> list[tuple[str, str]]:
    return [(c.lang, c.text) for c in out if isinstance(c, Caption) and c.final]


def dropped(out) -> list[Status]:
    return [e for e in out if isinstance(e, Status) and e.state == "speech_dropped"]


def timed(*spec: tuple[str, float, float]) -> list[Word]:
    """Words with the given times: (text, start_s, end_s), as a pass logged them."""
    return [Word(" " + text, start, end) for text, start, end in spec]


def finals(caps):
    return [c for c in caps if c.final]


def test_speech_that_reads_as_nothing_is_decoded_again_in_the_other_language():
    # An English speaker after a Russian one, decoded in the sticky Russian: the guards
    # dropped the segment, and the utterance was never captioned.
    out, tried, worker = final_pass({
        "ru": PassResult([], "ru", None, ("low confidence",)),
        "en": PassResult(words("the acoustic corpus"), "en", None)})
    assert tried == ["ru", "en"]
    assert committed(out) == [("en", "the acoustic corpus")]
    assert dropped(out) == [] and not worker.speech_dropped


def test_speech_nothing_can_read_is_reported_with_its_times_and_reason():
    out, tried, worker = final_pass({
        "ru": PassResult([], "ru", None, ("low confidence",)),
        "en": PassResult([], "en", None, ("no speech", "low confidence"))})
    assert tried == ["ru", "en"] and committed(out) == []
    (status,) = dropped(out)
    assert status.input_id == "floor"
    assert status.detail == {"start_s": 1.0, "end_s": pytest.approx(4.25),
                             "reason": "low confidence, no speech", "tried": ["ru", "en"]}
    assert worker.speech_dropped == {"low confidence, no speech": 1}


def test_the_operators_forced_language_is_not_second_guessed_but_a_drop_is_reported():
    out, tried, _ = final_pass({"ru": PassResult([], "ru", None, ())}, forced="ru")
    assert tried == ["ru"]
    assert [s.detail["reason"] for s in dropped(out)] == ["no words"]


def test_a_cough_is_not_reported():
    out, tried, worker = final_pass({"ru": PassResult([], "ru", None, ())}, speech_s=0.6)
    assert tried == ["ru"] and dropped(out) == [] and not worker.speech_dropped


def test_an_utterance_with_committed_words_is_not_decoded_again():
    out, tried, _ = final_pass({"ru": PassResult(words("добрый день"), "ru", None)})
    assert tried == ["ru"] and committed(out) == [("ru", "добрый день")]


class _Engine:
    languages = ("en",)


def test_a_pass_that_reaches_back_and_hears_nothing_new_decodes_the_buffer_alone():
    # en_welcome on a loaded host: from "and gentlemen" (committed) on, Whisper wrote
    # only an unsure "The" for 7.4 s of speech; the rest was never captioned.
    decoded: list[tuple[float, bool]] = []

    def decode(audio, offset_s, lang, prompts, hotwords="", final=False, *rest):
        decoded.append((round(offset_s, 2), final))
        if offset_s < 3.5:
            return PassResult([], "en", None)
        return PassResult(words("discuss climate finance", 3.6), "en", None)

    out: list = []
    with ThreadPoolExecutor(1) as pool:
        worker = InputWorker("floor", _Engine(), pool, pool, out.append,
                             policy_params=StreamingParams(trim_after_s=3.0))
        worker._decode = decode
        worker._audio = np.zeros(int(16000 * 8.85), dtype=np.float32)
        p = worker.policy
        p.start_utterance(0.0)
        p.set_language("en", locked=True)
        said = timed(("ladies", 1.2, 1.44), ("and", 1.44, 1.74), ("today", 2.9, 3.1),
                     ("we", 3.1, 3.34), ("will", 3.34, 3.56))
        p.on_hypothesis(said, 3.9)
        p.on_hypothesis(said + timed(("be", 3.6, 3.8)), 4.2)
        assert p.buffer_start_s == pytest.approx(3.56)

        async def final_pass():
            await worker._final_pass(asyncio.get_running_loop(), 8.85)

        asyncio.run(final_pass())
    assert decoded == [(1.44, True), (3.56, True)]
    assert [c.text for c in finals(out)] == ["discuss climate finance"]


class _BeamEngine:
    """Records the beam of every pass; hears nothing."""

    languages = ("en",)

    def __init__(self) -> None:
        self.beams: list[int] = []

    def transcribe(self, audio, language, **kwargs):
        self.beams.append(kwargs["beam_size"])
        return [], language


@pytest.mark.parametrize(("overrides", "final_beam"), [([], 1), (["asr.beam_size=5"], 5)])
def test_asr_beam_size_reaches_the_final_pass_and_provisional_passes_stay_greedy(
        overrides, final_beam):
    engine = _BeamEngine()
    params = live_params(load_config(overrides=overrides))
    with ThreadPoolExecutor(1) as pool:
        worker = InputWorker("floor", engine, pool, pool, lambda event: None, params=params)
        worker._audio = np.zeros(16000 * 4, dtype=np.float32)
        worker.policy.start_utterance(0.0)
        worker.policy.set_language("en", locked=True)

        async def passes():
            loop = asyncio.get_running_loop()
            await worker._run_pass(loop, 0.0, 2.0, final=False)
            await worker._run_pass(loop, 0.0, 3.0, final=False)
            await worker._final_pass(loop, 4.0)

        asyncio.run(passes())
    assert engine.beams == [1, 1, final_beam]


class _IdentifyingEngine:
    """Identifies every pass as ``lang`` with probability ``p``; records what it decodes in."""

    languages = ("ru", "en")

    def __init__(self, lang: str, p: float) -> None:
        self.guess = type("Guess", (), {"lang": lang, "probability": p})()
        self.decoded: list[str] = []

    def detect_language(self, audio, window_s):
        return self.guess

    def transcribe(self, audio, language, **kwargs):
        self.decoded.append(language)
        return [], language


@pytest.mark.parametrize(("hint", "last", "decoded"), [
    (None, (None, None), "en"),    # no speaker set: a sure identification is followed
    ("ru", (None, None), "ru"),    # the speaker's Russian: 2.5 s of English is a quote
    ("ru", ("en", "en"), "ru"),    # the previous speaker's English says nothing of this one
    ("ru", ("en", "ru"), "en"),    # this speaker switched to English and goes on in it
])
def test_the_speakers_language_hint_weighs_in_the_final_pass(hint, last, decoded):
    engine = _IdentifyingEngine("en", 0.97)
    with ThreadPoolExecutor(1) as pool:
        worker = InputWorker("floor", engine, pool, pool, lambda event: None,
                             language_hint=lambda: hint)
        worker._audio = np.zeros(16000 * 5, dtype=np.float32)
        worker._last_lang, worker._last_hint = last
        worker._last_utt_end_s = 0.5
        worker._utt_start_s = 1.0
        worker._utt_hint = worker.language_hint()  # as the utterance's start reads it
        worker.policy.start_utterance(0.0, 1.0)
        asyncio.run(_final(worker, 1.0 + 2.5 + worker.params.tail_s))
    assert engine.decoded[0] == decoded


def test_the_hint_is_read_when_an_utterance_starts_and_kept_to_its_end():
    # The operator sets the next speaker while this one's utterance is still being
    # recognised: its passes keep the language of the speaker it began with.
    engine = _IdentifyingEngine("en", 0.93)  # English, but not sure enough to switch
    hint = {"now": "ru"}
    with ThreadPoolExecutor(1) as pool:
        worker = InputWorker("floor", engine, pool, pool, lambda event: None,
                             language_hint=lambda: hint["now"])
        worker.vad = lambda samples: np.full(len(samples) // 512, 0.95, dtype=np.float32)

        async def speech():
            loop = asyncio.get_running_loop()
            blocks = [AudioChunk("floor", np.zeros(1600, dtype=np.float32), i / 10, 0)
                      for i in range(40)]
            await worker.step(loop, blocks[:10])
            assert worker.policy.active and worker._utt_hint == "ru"
            hint["now"] = "en"
            for i in range(10, 40, 5):
                await worker.step(loop, blocks[i:i + 5])

        asyncio.run(speech())
    assert engine.decoded and set(engine.decoded) == {"ru"}, engine.decoded
