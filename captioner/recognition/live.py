"""The live transcription adapter for one input: audio in, captions out.

Runs on the event loop but never runs model code there: Silero VAD and Whisper run
in executors. Audio waits in a bounded queue (oldest dropped and counted when a pass
runs long); each decoding pass covers the current utterance since the last trim
point, and its result goes through the guards and the streaming policy.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from captioner.events import SAMPLE_RATE, AudioChunk, Caption, Status
from captioner.recognition.asr import WhisperEngine
from captioner.recognition.decoding import PassDecoder, PassResult
from captioner.recognition.schedule import WORD_S, LiveParams, pass_due, pass_start
from captioner.recognition.streaming import StreamingParams, StreamingPolicy
from captioner.recognition.vad import SileroVad, VadParams, VadSegmenter
from captioner.states import SPEECH_DROPPED

log = logging.getLogger(__name__)

RECENT_S = 30.0


# An utterance with at least this much speech whose final pass commits nothing is
# decoded again in the other language, then reported as speech_dropped: shorter ones
# are mostly a cough or a door.
DROP_MIN_SPEECH_S = 1.0


class InputWorker:
    """Transcribes one input continuously.

    Args:
        input_id: Which input (``floor``, ``booth``).
        engine: The shared Whisper model.
        asr_executor: Single-thread executor all Whisper passes share.
        vad_executor: Executor for Silero VAD; its model is loaded there too (see
            :meth:`load_vad`).
        emit: Called on the loop with every caption and status.
        forced_language: Returns the operator's forced language, or None for auto.
        language_hint: Returns the language the speaker on this input declared, or None,
            read as an utterance starts: a prior (the forced language wins).
        source: Caption source label (``floor`` or ``interpretation``).
        timer: Monotonic seconds, to time passes; clock_ns: wall-clock time stamped on
            captions. Both are injected by ``bench.simulate``, which runs this worker
            on a simulated clock.
    """

    def __init__(self, input_id: str, engine: WhisperEngine, asr_executor: Executor,
                 vad_executor: Executor, emit: Callable[[Caption | Status], None],
                 forced_language: Callable[[], str | None] = lambda: None,
                 language_hint: Callable[[], str | None] = lambda: None,
                 source: str = "floor", params: LiveParams = LiveParams(),
                 policy_params: StreamingParams = StreamingParams(),
                 vad_params: VadParams = VadParams(),
                 hotwords: Callable[[str], str] | None = None,
                 on_utterance_end: Callable[[str, str | None], None] | None = None,
                 timer: Callable[[], float] = time.perf_counter,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.input_id = input_id
        self.engine = engine
        self.asr_executor = asr_executor
        self.vad_executor = vad_executor
        self.emit = emit
        self.forced_language = forced_language
        self.language_hint = language_hint
        self.params = params
        self.hotwords = hotwords
        self.on_utterance_end = on_utterance_end
        self.timer = timer
        # Runs in the ASR executor; a test or bench.simulate may put its own in its place.
        self._decode = PassDecoder(input_id, engine, params)
        self.policy = StreamingPolicy(input_id, policy_params, clock_ns=clock_ns,
                                      source=source)
        # The last RECENT_S seconds of audio, kept for speech translation of committed text.
        self._recent = collections.deque()
        self._recent_len = 0
        # Built in the VAD executor (see load_vad): loading it on the loop stalls it.
        self.vad: SileroVad | None = None
        self.segmenter = VadSegmenter(vad_params)
        self.queue: collections.deque[AudioChunk] = collections.deque()
        self._wake = asyncio.Event()
        self._closed = False
        self.dropped_chunks = 0
        # Utterances no decoding could read, by reason (see DROP_MIN_SPEECH_S).
        self.speech_dropped: collections.Counter[str] = collections.Counter()
        self.passes = 0
        self.asr_seconds = 0.0
        # Audio of the current region: samples from _audio_start_s on.
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_start_s = 0.0
        self._last_pass_end_s = 0.0
        self._last_pass_wall_s = 0.0  # submit to result, queueing for the model included
        self._last_lang: str | None = None  # the previous utterance's language
        self._last_hint: str | None = None  # and the speaker's language hint then
        self._utt_hint: str | None = None  # the hint of this utterance, read at its start
        self._held_s = 0.0  # the previous utterance's LanguageChoice.held_s
        self._last_utt_end_s = float("-inf")
        self._utt_start_s = 0.0
        self._utt_buffer_start_s = 0.0  # where the utterance's audio starts
        self._pending_end_s: float | None = None

    # -- feeding (on the loop, cheap) ---------------------------------------------------

    def feed(self, chunk: AudioChunk) -> None:
        """Queues a chunk; drops the oldest when the queue is full (counted)."""
        if len(self.queue) >= self.params.queue_chunks:
            self.queue.popleft()
            self.dropped_chunks += 1
        self.queue.append(chunk)
        self._wake.set()

    def close(self) -> None:
        """No more audio: the worker finishes the current utterance and returns."""
        self._closed = True
        self._wake.set()

    def recent_audio(self, start_s: float, end_s: float) -> np.ndarray | None:
        """Samples between two stream times, if still held (the last 30 s).

        Call it on the loop: the worker appends to the audio there, and another thread
        would read the deque while it changes.
        """
        if not self._recent:
            return None
        first = self._recent[0].start_s
        data = np.concatenate([c.samples for c in self._recent])
        a = max(0, int((start_s - first) * SAMPLE_RATE))
        b = max(a, int((end_s - first) * SAMPLE_RATE))
        return data[a:b] if a < len(data) else None

    def _remember(self, chunk: AudioChunk) -> None:
        self._recent.append(chunk)
        self._recent_len += len(chunk.samples)
        while self._recent_len - len(self._recent[0].samples) > RECENT_S * SAMPLE_RATE:
            self._recent_len -= len(self._recent.popleft().samples)

    def load_vad(self) -> None:
        """Builds the VAD model if not built yet. Runs in the VAD executor, never on the
        loop; the first step does it when the pipeline did not beforehand."""
        if self.vad is None:
            self.vad = SileroVad()

    def _vad_probs(self, samples: np.ndarray) -> np.ndarray:
        """Speech probabilities of the new samples (in the VAD executor)."""
        self.load_vad()
        return self.vad(samples)

    @property
    def audio_end_s(self) -> float:
        return self._audio_start_s + len(self._audio) / SAMPLE_RATE

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                if self._closed:
                    break
                self._wake.clear()
                await self._wake.wait()
                continue
            chunks = list(self.queue)
            self.queue.clear()
            await self.step(loop, chunks)
        await self.finish(loop)

    async def step(self, loop: asyncio.AbstractEventLoop, chunks: list[AudioChunk]) -> None:
        """Takes in the audio that came since the last step, and runs a pass if due."""
        for chunk in chunks:
            self._remember(chunk)
        await self._take_audio(loop, chunks)
        await self._maybe_pass(loop)

    async def finish(self, loop: asyncio.AbstractEventLoop) -> None:
        """The audio has ended: the utterance in progress gets its final pass."""
        if self.policy.active:
            await self._final_pass(loop, self.audio_end_s)

    async def _take_audio(self, loop: asyncio.AbstractEventLoop,
                          chunks: list[AudioChunk]) -> None:
        if chunks[0].start_s > self.audio_end_s + 0.05 or not len(self._audio):
            # First audio, or a gap (device lost, chunks dropped): restart the region.
            self._audio = np.zeros(0, dtype=np.float32)
            self._audio_start_s = chunks[0].start_s
        new = np.concatenate([c.samples for c in chunks])
        start_s = self.audio_end_s
        self._audio = np.concatenate([self._audio, new])
        probs = await loop.run_in_executor(self.vad_executor, self._vad_probs, new)
        # VAD windows lag by the samples it keeps pending; align on the consumed ones.
        vad_start = start_s - (len(new) - len(probs) * 512) / SAMPLE_RATE
        for event in self.segmenter.push(probs, max(vad_start, 0.0)):
            if event.kind == "start":
                if self.policy.active and self._pending_end_s is not None:
                    await self._final_pass(loop, self._pending_end_s)
                self._pending_end_s = None
                if not self.policy.active:
                    self._utt_start_s = event.at_s
                    self._utt_hint = self.language_hint()  # fixed, as the speaker is
                    self.policy.start_utterance(max(event.at_s - self.params.preroll_s,
                                                    self._audio_start_s), event.at_s)
                    self._utt_buffer_start_s = self.policy.buffer_start_s
                    self._last_pass_end_s = self.policy.buffer_start_s
            elif event.kind == "end" and self.policy.active:
                self._pending_end_s = event.at_s + self.params.tail_s
        self._trim_audio()

    def _trim_audio(self) -> None:
        # A pass may reach back context_s (a final pass final_context_s), and on to a
        # word's end.
        reach_s = max(self.params.context_s, self.params.final_context_s) + WORD_S
        keep_from = (max(self._utt_buffer_start_s, self.policy.buffer_start_s - reach_s)
                     if self.policy.active
                     else self.audio_end_s - self.params.preroll_s - 0.5)
        cut = int((keep_from - self._audio_start_s) * SAMPLE_RATE)
        if cut > 0:
            self._audio = self._audio[cut:]
            self._audio_start_s += cut / SAMPLE_RATE

    async def _maybe_pass(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.policy.active:
            return
        if self._pending_end_s is not None and self.audio_end_s >= self._pending_end_s:
            await self._final_pass(loop, self._pending_end_s)
            return
        end = self.audio_end_s
        if end - self.policy.buffer_start_s < self.params.first_pass_s:
            return
        if not pass_due(end - self._last_pass_end_s, self._last_pass_wall_s,
                        self.params.min_step_s):
            return
        await self._run_pass(loop, self._pass_start(end), end, final=False)
        self._trim_audio()

    async def _final_pass(self, loop: asyncio.AbstractEventLoop, end_s: float) -> None:
        end_s = min(end_s, self.audio_end_s)
        start_s = self._pass_start(end_s, min_s=self.params.final_context_s)
        if end_s - start_s >= 0.3:
            result = await self._run_pass(loop, start_s, end_s, final=True)
            self._held_s = result.held_s
            if (not self.policy.has_committed
                    and end_s - self.params.tail_s - self._utt_start_s >= DROP_MIN_SPEECH_S):
                await self._read_again_or_report(loop, start_s, end_s, result,
                                                 retry=not self.forced_language())
        else:
            self._held_s = 0.0
            for caption in self.policy.on_hypothesis([], end_s, final=True):
                self.emit(caption)
        lang = self.policy.lang
        if lang and self.policy.lang_locked and not self._held_s:  # a quote leaves it be
            self._last_lang, self._last_hint = lang, self._utt_hint
        self._last_utt_end_s = end_s
        self.policy.end_utterance()
        self._pending_end_s = None
        if self.on_utterance_end is not None:
            self.on_utterance_end(self.input_id, lang)

    async def _read_again_or_report(self, loop: asyncio.AbstractEventLoop, start_s: float,
                                    end_s: float, first: PassResult, retry: bool) -> None:
        """An utterance the voice activity detector heard as speech, whose final pass
        committed nothing: decoded again in the other language (a speaker who switched,
        decoded in the sticky one, reads as nothing or is dropped as unreliable), unless
        the operator forced the language; where that gives nothing either, reported by a
        ``speech_dropped`` status with its times and reason, so an organiser's
        re-transcription can find it."""
        tried = list(first.tried or (first.lang,))  # a duel tried both already
        reasons = list(first.rejected)
        alternative = next((x for x in self.engine.languages if x not in tried), None)
        if retry and alternative is not None:
            self.policy.relabel(alternative)
            again = await self._run_pass(loop, start_s, end_s, final=True)
            tried.append(again.lang)
            reasons += again.rejected
            if self.policy.has_committed:
                log.info("%s: %.2f-%.2f s read only in %s", self.input_id,
                         self._utt_start_s, end_s, again.lang)
                return
        reason = ", ".join(dict.fromkeys(reasons)) or "no words"
        self.speech_dropped[reason] += 1
        log.warning("%s: %.1f-%.1f s of speech gave no words in %s (%s)", self.input_id,
                    self._utt_start_s, end_s, " or ".join(tried), reason)
        self.emit(Status(SPEECH_DROPPED, time.time_ns(), input_id=self.input_id, detail={
            "start_s": round(self._utt_start_s, 3), "end_s": round(end_s, 3),
            "reason": reason, "tried": tried}))

    def _pass_start(self, end_s: float, min_s: float = 0.0) -> float:
        return max(self._audio_start_s, pass_start(
            self.policy.buffer_start_s, self._utt_buffer_start_s, end_s,
            self.params.context_s, min_s, self.policy.word_ends))

    async def _run_pass(self, loop: asyncio.AbstractEventLoop, start_s: float,
                        end_s: float, final: bool) -> PassResult:
        a = int((start_s - self._audio_start_s) * SAMPLE_RATE)
        b = int((end_s - self._audio_start_s) * SAMPLE_RATE)
        audio = self._audio[max(a, 0):b]
        forced = self.forced_language()
        if forced:
            self.policy.set_language(forced, locked=True)
        lang = self.policy.lang if (forced or self.policy.lang_locked) else None
        gap_s = self._utt_start_s - self._last_utt_end_s
        speech_s = end_s - self._utt_start_s
        hint = self._utt_hint
        # Another speaker's language says nothing of this one's: the hint stands alone.
        previous = self._last_lang if hint is None or hint == self._last_hint else None
        held_s = self._held_s if hint == self._last_hint else 0.0
        started = self.timer()
        # Hotwords in the utterance's language; none until it is known, since terms in
        # the wrong language would pull identification towards it.
        hot = self.hotwords(lang) if self.hotwords and lang else ""
        # One prompt per language: the pass's language may be decided in the executor.
        prompts = {code: self.policy.prompt(code, before_s=start_s)
                   for code in self.engine.languages}
        result = await loop.run_in_executor(
            self.asr_executor, self._decode, audio, start_s, lang, prompts, hot,
            final, previous, speech_s, gap_s, hint, held_s)
        self._last_pass_wall_s = self.timer() - started
        self.asr_seconds += self._last_pass_wall_s
        self.passes += 1
        self._last_pass_end_s = end_s
        if result.settled is not None:
            self.policy.set_language(result.lang, locked=result.settled)
        elif self.policy.lang is None:
            self.policy.set_language(result.lang, locked=False)
        if log.isEnabledFor(logging.DEBUG):
            heard = " ".join(f"{w.text.strip()}@{w.start_s:.2f}-{w.end_s:.2f}"
                             for w in result.words)
            log.debug("pass %s [%.2f-%.2f] %.2fs final=%s lang=%s: %s", self.input_id, start_s,
                      end_s, self._last_pass_wall_s, final, result.lang, heard)
        buffer_start_s = self.policy.buffer_start_s
        if (start_s < buffer_start_s and end_s - buffer_start_s >= 0.3
                and not self.policy.heard_past_commit(result.words)):
            # Reaching back cost the pass its words: from "and gentlemen" on, Whisper
            # wrote only an unsure "The" for 7.4 s of clear speech, the final pass
            # did the same, and the rest of en_welcome was never captioned (a loaded
            # host, CI). The buffer alone is decoded again.
            log.debug("%s: the pass from %.2f s heard nothing after the committed words; "
                      "again from the buffer's start", self.input_id, start_s)
            return await self._run_pass(loop, buffer_start_s, end_s, final)
        for caption in self.policy.on_hypothesis(result.words, end_s, final=final):
            self.emit(caption)
        return result
