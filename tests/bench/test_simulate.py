"""bench.simulate: the live worker on a simulated clock gives the same passes every run."""

import asyncio

import numpy as np
import pytest

from bench.simulate import CostModel, SimClock, SimExecutor, blocks, simulate
from captioner.events import Caption
from captioner.inputs.audio import decode_file
from captioner.recognition.schedule import LiveParams
from captioner.recognition.streaming import StreamingParams
from captioner.synth import silence
from tests.textnorm import wer


def _decode(audio, offset_s, lang, prompts, hotwords="", final=False):
    return len(audio)


def test_a_pass_moves_the_clock_on_by_its_modelled_time():
    clock = SimClock(1.0)
    asr = SimExecutor(clock, CostModel(base_s=0.2, per_audio_s=0.1, final_base_s=0.5,
                                       final_per_audio_s=0.1, language_s=0.05))
    assert asr.submit(_decode, np.zeros(32000), 0.0, None, {}).result() == 32000
    assert clock.now_s == pytest.approx(1.0 + 0.2 + 0.2 + 0.05)  # 2 s, identified
    asr.submit(_decode, np.zeros(16000), 0.0, "ru", {}, final=True)
    assert clock.now_s == pytest.approx(1.45 + 0.5 + 0.1)
    assert [p.final for p in asr.passes] == [False, True]
    # Other work (voice activity) takes no simulated time.
    SimExecutor(clock).submit(len, [1, 2])
    assert clock.now_s == pytest.approx(2.05)


def test_audio_arrives_in_blocks_as_the_sources_deliver_it():
    chunks = blocks(np.ones(16000 * 2 + 800, dtype=np.float32))
    assert len(chunks) == 21
    assert chunks[-1].start_s == pytest.approx(2.0)
    assert len(chunks[-1].samples) == 1600 and chunks[-1].samples[800:].max() == 0


@pytest.mark.integration
def test_simulated_runs_repeat_exactly_and_caption_the_clip(engine, clips):
    # The stream starts before the speaker, as in a room. Played from its first sample,
    # the clip's opening is misread on CPUs whose oneDNN kernels use VNNI ("God
    # Afternoon, Lady Manchan, Somen" committed from 2.4 s and 2.9 s passes) and read
    # right on others: a fault of openings (issue 17), not what this test is about.
    audio = np.concatenate([silence(1.0), decode_file(clips["en_welcome"].path)])

    def run():
        events, passes = asyncio.run(simulate(engine, audio, LiveParams(),
                                              StreamingParams(), CostModel()))
        caps = [e for e in events if isinstance(e, Caption)]
        return caps, passes

    first, passes = run()
    again, _ = run()
    assert [(c.final, c.text, c.emitted_ns) for c in first] == [
        (c.final, c.text, c.emitted_ns) for c in again]
    committed = [c for c in first if c.final]
    assert wer(clips["en_welcome"].text, " ".join(c.text for c in committed)) <= 0.15
    # Captions carry the simulated time: each word is committed after its audio came
    # in, and the last pass ends the run.
    assert all(c.emitted_ns / 1e9 >= w.end_s for c in committed for w in c.words)
    assert passes[-1].final
    end_s = len(audio) / 16000
    assert first[-1].emitted_ns / 1e9 <= end_s + sum(p.modelled_s for p in passes)
