"""The live worker's final pass: speech that reads as nothing is decoded again in the
other language, then reported, never silently lost (a scripted decoder, no model)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from captioner.events import Caption, Status, Word
from captioner.recognition.live import InputWorker, _PassResult


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


def test_speech_that_reads_as_nothing_is_decoded_again_in_the_other_language():
    # An English speaker after a Russian one, decoded in the sticky Russian: the guards
    # dropped the segment, and the utterance was never captioned.
    out, tried, worker = final_pass({
        "ru": _PassResult([], "ru", None, ("low confidence",)),
        "en": _PassResult(words("the acoustic corpus"), "en", None)})
    assert tried == ["ru", "en"]
    assert committed(out) == [("en", "the acoustic corpus")]
    assert dropped(out) == [] and not worker.speech_dropped


def test_speech_nothing_can_read_is_reported_with_its_times_and_reason():
    out, tried, worker = final_pass({
        "ru": _PassResult([], "ru", None, ("low confidence",)),
        "en": _PassResult([], "en", None, ("no speech", "low confidence"))})
    assert tried == ["ru", "en"] and committed(out) == []
    (status,) = dropped(out)
    assert status.input_id == "floor"
    assert status.detail == {"start_s": 1.0, "end_s": pytest.approx(4.25),
                             "reason": "low confidence, no speech", "tried": ["ru", "en"]}
    assert worker.speech_dropped == {"low confidence, no speech": 1}


def test_the_operators_forced_language_is_not_second_guessed_but_a_drop_is_reported():
    out, tried, _ = final_pass({"ru": _PassResult([], "ru", None, ())}, forced="ru")
    assert tried == ["ru"]
    assert [s.detail["reason"] for s in dropped(out)] == ["no words"]


def test_a_cough_is_not_reported():
    out, tried, worker = final_pass({"ru": _PassResult([], "ru", None, ())}, speech_s=0.6)
    assert tried == ["ru"] and dropped(out) == [] and not worker.speech_dropped


def test_an_utterance_with_committed_words_is_not_decoded_again():
    out, tried, _ = final_pass({"ru": _PassResult(words("добрый день"), "ru", None)})
    assert tried == ["ru"] and committed(out) == [("ru", "добрый день")]
