"""The machine-translation stage: committed floor text in, machine captions out.

The stage runs inside a real event loop with a real executor. Engines are either the
tiny random Argos package of :mod:`captioner.routing.tiny_argos` (plumbing: loading,
threads, CTranslate2 calls; its output is gibberish) or fakes that echo their input, so
the joining, ordering and glossary wiring can be checked exactly. The end of the module
runs ``captioner run`` with a corrupt and with a valid package in a model store of its
own (real Whisper: integration).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from captioner.config import Config, GlossaryTerm, TranslationConfig
from captioner.events import Caption, Segment, Status
from captioner.room.build import build_translation
from captioner.routing.argos import ArgosTranslator, read_package
from captioner.routing.glossary import Glossary
from captioner.routing.mt import ArgosEngine, MachineTranslation, WhisperTranslateEngine
from captioner.routing.sentences import TimedText
from captioner.routing.tiny_argos import build_package_dir
from tests.conftest import run_cli

GLOSSARY = Glossary((
    GlossaryTerm(en="CAREC", ru="ЦАРЭС", misheard=("Carrick",)),
    GlossaryTerm(en="Paris Agreement", ru="Парижское соглашение"),
    GlossaryTerm(en="UNDP"),
))


def floor(text: str, start_s: float, end_s: float, lang: str = "en", n: int = 1) -> Caption:
    return Caption(id=f"floor-{n}", final=True, lang=lang, text=text, start_s=start_s,
                   end_s=end_s, emitted_ns=0, source="floor", input_id="floor", seq=n)


class EchoTranslator:
    """A translator that gives back its input (optionally mangled), recording each call."""

    def __init__(self, from_code: str = "en", to_code: str = "ru", mangle=None) -> None:
        self.from_code, self.to_code = from_code, to_code
        self.name = f"echo {from_code}->{to_code}"
        self.mangle = mangle or (lambda text: text)
        self.seen: list[str] = []
        self.threads: set[str] = set()

    def translate(self, texts):
        self.seen.extend(texts)
        self.threads.add(threading.current_thread().name)
        return [self.mangle(t) for t in texts]


class FlakyEngine:
    """Fails on any sentence containing "boom"; echoes the others."""

    name = "flaky"

    def translate_one(self, text: str, origin: Caption, span: TimedText) -> str:
        if "boom" in text:
            raise RuntimeError("CUDA out of memory\nsecond line")
        return text.upper()


async def run_stage(engines: dict, feed, glossary: Glossary | None = None,
                    executor_name: str = "mt-test", **kwargs) -> list[Caption | Status]:
    """Runs a stage on a one-thread executor: ``feed(stage)`` submits, then it is closed."""
    out: list[Caption | Status] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=executor_name) as executor:
        stage = MachineTranslation(engines, executor, out.append, glossary, **kwargs)
        task = asyncio.create_task(stage.run())
        feed(stage)
        await asyncio.sleep(0)
        stage.close()
        await asyncio.wait_for(task, timeout=60)
    return out


def captions(events) -> list[Caption]:
    return [e for e in events if isinstance(e, Caption)]


def feed_talk(stage: MachineTranslation) -> None:
    stage.submit(floor("Good afternoon,", 0.0, 0.8))
    stage.submit(floor("ladies and gentlemen. Today we", 0.9, 3.0, n=2))
    stage.submit(floor("will discuss climate finance", 3.1, 4.5, n=3))
    stage.utterance_ended("en")  # the speaker paused without ending the sentence
    stage.submit(floor("Thank you.", 6.0, 7.0, n=4))


# --- the stage with fakes: exact text, times and order ----------------------------------


async def test_fragments_are_joined_into_sentences_and_emitted_in_order():
    echo = EchoTranslator()
    out = await run_stage({"en": ArgosEngine(echo, Glossary())}, feed_talk)
    assert echo.seen == ["Good afternoon, ladies and gentlemen.",
                         "Today we will discuss climate finance", "Thank you."]
    caps = captions(out)
    assert [c.text for c in caps] == echo.seen
    assert [c.id for c in caps] == ["mt-floor-1", "mt-floor-2", "mt-floor-3"]
    for c in caps:
        assert c.final and c.lang == "ru" and c.source == "machine"
        assert c.input_id == "floor" and c.seq is None and c.words == ()
    # Each caption spans its sentence's audio: the first ends inside the second fragment.
    first, second, third = caps
    assert first.start_s == 0.0 and 0.9 < first.end_s < 3.0
    assert second.start_s == pytest.approx(first.end_s) and second.end_s == 4.5
    assert (third.start_s, third.end_s) == (6.0, 7.0)
    assert [c.emitted_ns for c in caps] == sorted(c.emitted_ns for c in caps)


async def test_close_translates_what_is_still_buffered():
    echo = EchoTranslator()

    def feed(stage):
        stage.submit(floor("We will present the plans", 0.0, 2.0))
        stage.submit(floor("of the five countries", 2.1, 3.5, n=2))

    out = await run_stage({"en": ArgosEngine(echo, Glossary())}, feed)
    assert [c.text for c in captions(out)] == ["We will present the plans of the five countries"]
    assert (out[0].start_s, out[0].end_s) == (0.0, 3.5)


async def test_utterance_end_flushes_only_its_language():
    en, ru = EchoTranslator("en", "ru"), EchoTranslator("ru", "en")

    def feed(stage):
        stage.submit(floor("Good afternoon", 0.0, 1.0))
        stage.submit(floor("Добрый день", 1.0, 2.0, lang="ru", n=2))
        stage.utterance_ended("ru")

    out = await run_stage({"en": ArgosEngine(en, Glossary()), "ru": ArgosEngine(ru, Glossary())},
                          feed)
    caps = captions(out)
    # The Russian flush was queued first; English only came out at close().
    assert [(c.lang, c.text) for c in caps] == [("en", "Добрый день"), ("ru", "Good afternoon")]


async def test_captions_in_a_language_without_engine_are_ignored():
    echo = EchoTranslator()

    def feed(stage):
        stage.submit(floor("Добрый день.", 0.0, 1.0, lang="ru"))
        stage.submit(floor("Hello.", 1.0, 2.0, n=2))

    out = await run_stage({"en": ArgosEngine(echo, Glossary())}, feed)
    assert [c.text for c in captions(out)] == ["Hello."]


async def test_glossary_terms_are_protected_and_restored():
    echo = EchoTranslator()

    def feed(stage):
        stage.submit(floor("CAREC and UNDP signed the paris agreement.", 0.0, 3.0))

    out = await run_stage({"en": ArgosEngine(echo, GLOSSARY)}, feed, GLOSSARY)
    (sent,) = echo.seen
    assert "CAREC" not in sent and "UNDP" not in sent and "paris" not in sent
    assert re.fullmatch(r"XQ\dZ and XQ\dZ signed the XQ\dZ\.", sent), sent
    (caption,) = captions(out)
    assert caption.text == "ЦАРЭС and UNDP signed the Парижское соглашение."


async def test_placeholders_mangled_by_the_engine_are_still_restored():
    def mangle(text: str) -> str:  # what MT does to code-like tokens: case, spaces, Х for X
        return text.replace("XQ1Z", "xq 1 z").replace("XQ2Z", "Х Q2Z")

    echo = EchoTranslator(mangle=mangle)

    def feed(stage):
        stage.submit(floor("The CAREC programme, the Paris Agreement.", 0.0, 3.0))

    out = await run_stage({"en": ArgosEngine(echo, GLOSSARY)}, feed, GLOSSARY)
    assert [c.text for c in captions(out)] == ["The ЦАРЭС programme, the Парижское соглашение."]


async def test_output_misrecognitions_are_fixed_into_the_target_language():
    echo = EchoTranslator(mangle=lambda text: "Программа Carrick.")

    def feed(stage):
        stage.submit(floor("The programme.", 0.0, 1.0))

    out = await run_stage({"en": ArgosEngine(echo, GLOSSARY)}, feed, GLOSSARY)
    assert [c.text for c in captions(out)] == ["Программа ЦАРЭС."]


async def test_empty_translations_give_no_caption():
    echo = EchoTranslator(mangle=lambda text: "  ")

    def feed(stage):
        stage.submit(floor("Yes.", 0.0, 1.0))

    assert await run_stage({"en": ArgosEngine(echo, Glossary())}, feed) == []


async def test_a_failing_engine_reports_and_the_stage_goes_on():
    def feed(stage):
        stage.submit(floor("First sentence.", 0.0, 1.0))
        stage.submit(floor("Then boom.", 1.0, 2.0, n=2))
        stage.submit(floor("And after it.", 2.0, 3.0, n=3))

    out = await run_stage({"en": FlakyEngine()}, feed)
    assert [type(e).__name__ for e in out] == ["Caption", "Status", "Caption"]
    error = out[1]
    assert error.state == "translation_error"
    assert error.detail == {"engine": "flaky", "lang": "ru", "error": "CUDA out of memory"}
    assert [c.text for c in captions(out)] == ["FIRST SENTENCE.", "AND AFTER IT."]
    assert [c.id for c in captions(out)] == ["mt-floor-1", "mt-floor-2"]


async def test_engines_run_off_the_loop_on_the_stage_executor():
    echo = EchoTranslator()

    def feed(stage):
        stage.submit(floor("Hello.", 0.0, 1.0))

    await run_stage({"en": ArgosEngine(echo, Glossary())}, feed, executor_name="mt-test")
    assert len(echo.threads) == 1 and next(iter(echo.threads)).startswith("mt-test")


class GatedEngine:
    """Echoes each sentence, but holds the first until :attr:`gate` is set."""

    name = "gated"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()

    def translate_one(self, text: str, origin: Caption, span: TimedText) -> str:
        self.started.set()
        assert self.gate.wait(timeout=30)
        return text


async def run_blocked(n: int, **kwargs) -> tuple[MachineTranslation, list[Caption | Status]]:
    """Submits a sentence, and ``n`` more while the engine is busy with it."""
    engine = GatedEngine()
    out: list[Caption | Status] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt-test") as executor:
        stage = MachineTranslation({"en": engine}, executor, out.append, **kwargs)
        task = asyncio.create_task(stage.run())
        for i in range(n + 1):
            stage.submit(floor(f"This is sentence {i} here.", i, i + 1.0, n=i + 1))
            stage.utterance_ended("en")
            if i == 0:  # the first one is in the engine before the others come
                assert await asyncio.to_thread(engine.started.wait, 30)
        engine.gate.set()
        stage.close()
        await asyncio.wait_for(task, timeout=60)
    return stage, out


def dropped_statuses(events) -> list[Status]:
    return [e for e in events if isinstance(e, Status) and e.state == "translation_dropped"]


async def test_a_full_queue_drops_the_oldest_sentences_counts_and_reports_them():
    n = 100
    stage, out = await run_blocked(n)
    said = [c.text for c in captions(out)]
    drops = dropped_statuses(out)
    assert drops, "an engine 100 sentences behind must drop some"
    assert len(said) + len(drops) == n + 1
    # The one in the engine, then the newest ones, in order: the oldest waiting went.
    kept = len(said) - 1
    assert said == ["This is sentence 0 here."] + [
        f"This is sentence {i} here." for i in range(n + 1 - kept, n + 1)]
    assert [d.detail for d in drops] == [{"lang": "ru", "dropped": k}
                                         for k in range(1, len(drops) + 1)]
    assert stage.dropped == len(drops) and stage.pending == 0


async def test_the_queue_bound_is_exact_and_nothing_drops_within_it():
    stage, out = await run_blocked(3, max_queue=3)
    assert [c.text for c in captions(out)] == [f"This is sentence {i} here." for i in range(4)]
    assert dropped_statuses(out) == [] and stage.dropped == 0
    stage, out = await run_blocked(5, max_queue=3)
    assert [c.text for c in captions(out)] == [
        f"This is sentence {i} here." for i in (0, 3, 4, 5)]
    assert [d.detail["dropped"] for d in dropped_statuses(out)] == [1, 2]
    # Each drop is said before the sentence that pushed it out is translated.
    assert isinstance(out[0], Status) and isinstance(out[1], Status)


async def test_recent_latencies_are_kept_bounded():
    stage, out = await run_blocked(3, max_queue=3, latency_window=2)
    assert len(captions(out)) == 4
    assert len(stage.latencies_s) == 2 and all(x >= 0 for x in stage.latencies_s)


# --- Whisper's speech translation --------------------------------------------------------


class FakeWhisper:
    def __init__(self) -> None:
        self.calls: list[tuple[int, str, dict]] = []
        self.threads: set[str] = set()

    def transcribe(self, audio, language, **kwargs):
        self.calls.append((len(audio), language, kwargs))
        self.threads.add(threading.current_thread().name)
        return [Segment(" Good afternoon. ", 0.0, 1.0, "en"),
                Segment(" Welcome. ", 1.0, 2.0, "en")], language


async def test_whisper_translation_of_each_sentence_s_audio():
    whisper = FakeWhisper()
    asked: list[tuple[str, float, float]] = []

    def audio_for(input_id: str, start_s: float, end_s: float):
        asked.append((input_id, start_s, end_s))
        return np.zeros(int((end_s - start_s) * 16000), np.float32)

    def feed(stage):
        stage.submit(floor("Добрый день. Добро пожаловать.", 1.0, 3.0, lang="ru"))

    out = await run_stage({"ru": WhisperTranslateEngine(whisper)}, feed,
                          executor_name="mt-test", audio_for=audio_for)
    assert [c.text for c in captions(out)] == ["Good afternoon. Welcome."] * 2
    assert all(c.lang == "en" and c.source == "machine" for c in captions(out))
    # Each sentence's own stretch of audio, with a margin: the first ends mid-fragment.
    assert asked[0][0] == "floor" and asked[0][1] == pytest.approx(0.8)
    assert asked[0][2] < asked[1][2] == pytest.approx(3.2)
    assert whisper.calls[0][1] == "ru" and whisper.calls[0][2]["task"] == "translate"
    assert len(whisper.threads) == 1 and next(iter(whisper.threads)).startswith("mt-test")


async def test_whisper_translation_takes_the_audio_on_the_loop(tmp_path):
    # The worker appends to its recent audio on the loop; read from the translation
    # thread, the deque changed under np.concatenate ("deque mutated during iteration").
    loop_thread = threading.current_thread()
    asked_from: list[threading.Thread] = []

    def audio_for(input_id: str, start_s: float, end_s: float):
        asked_from.append(threading.current_thread())
        return np.zeros(int((end_s - start_s) * 16000), np.float32)

    whisper = FakeWhisper()
    out: list[Caption | Status] = []
    cfg = Config(translation=TranslationConfig(engine="whisper"))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt-test") as executor:
        factory, _ = await build_translation(cfg, whisper, executor, Glossary(), tmp_path)
        stage = factory(audio_for, out.append)
        task = asyncio.create_task(stage.run())
        stage.submit(floor("Добрый день. Добро пожаловать.", 1.0, 3.0, lang="ru"))
        await asyncio.sleep(0)
        stage.close()
        await asyncio.wait_for(task, timeout=60)
    assert [c.text for c in captions(out)] == ["Good afternoon. Welcome."] * 2
    assert asked_from == [loop_thread, loop_thread]
    assert len(whisper.threads) == 1 and next(iter(whisper.threads)).startswith("mt-test")


def test_whisper_translation_only_into_english_and_needs_audio():
    whisper = FakeWhisper()
    span = TimedText("Hello.", 0.0, 1.0)
    engine = WhisperTranslateEngine(whisper)
    second = np.zeros(16000, np.float32)
    assert engine.translate_one("Hello.", floor("Hello.", 0.0, 1.0), span, second) == ""
    assert whisper.calls == []
    short = np.zeros(800, np.float32)
    assert engine.translate_one("Да.", floor("Да.", 0.0, 0.05, lang="ru"), span, short) == ""
    assert engine.translate_one("Да.", floor("Да.", 0.0, 1.0, lang="ru"), span, None) == ""
    assert whisper.calls == []


# --- the tiny real Argos package: plumbing ------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    """An unpacked tiny en->ru package (random weights)."""
    return build_package_dir(tmp_path_factory.mktemp("argos"), "en", "ru")


@pytest.fixture(scope="module")
def tiny(tiny_dir) -> ArgosTranslator:
    return ArgosTranslator(read_package(tiny_dir))


async def test_the_tiny_package_through_the_stage(tiny):
    engine = ArgosEngine(tiny, GLOSSARY)
    assert engine.name == "argos:en-ru"
    out = await run_stage({"en": engine}, feed_talk, GLOSSARY)
    caps = captions(out)
    assert not [e for e in out if isinstance(e, Status)]
    # Random weights: the text is gibberish, but there is one caption per sentence.
    assert len(caps) == 3
    assert all(c.text and c.lang == "ru" and c.source == "machine" and c.final for c in caps)
    assert [(c.start_s, c.end_s) for c in caps][2] == (6.0, 7.0)
    assert [c.start_s for c in caps] == sorted(c.start_s for c in caps)


async def test_argos_packages_load_and_warm_up_off_the_event_loop(tiny_dir, tmp_path,
                                                                   monkeypatch):
    # A real package takes seconds to load and warm up: on the loop, the caption server
    # and the operator console would stand still meanwhile.
    calls: list[tuple[str, threading.Thread]] = []

    class RecordingTranslator:
        def __init__(self, package, intra_threads: int = 1, beam_size: int = 2) -> None:
            calls.append(("load", threading.current_thread()))
            self.from_code, self.to_code = package.from_code, package.to_code

        def warm_up(self) -> float:
            calls.append(("warm_up", threading.current_thread()))
            return 0.0

    # Patched where captioner.runner looks it up when it builds the stage.
    monkeypatch.setattr("captioner.routing.argos.ArgosTranslator", RecordingTranslator)
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "argos-home"))
    shutil.copytree(tiny_dir, tmp_path / "models" / "argos-en-ru")
    cfg = Config(translation=TranslationConfig(engine="argos"))
    with ThreadPoolExecutor(max_workers=1) as executor:
        factory, statuses = await build_translation(cfg, FakeWhisper(), executor, Glossary(),
                                                    tmp_path / "models")
        stage = factory(lambda *a: None, lambda e: None)
    assert stage.engines["en"].name == "argos:en-ru" and "ru" not in stage.engines
    assert [(s.state, s.detail["lang"]) for s in statuses] == [
        ("translation_unavailable", "en"), ("translation_available", "ru")]
    loop_thread = threading.current_thread()
    assert [what for what, _ in calls] == ["load", "warm_up"]
    assert all(thread is not loop_thread for _, thread in calls), calls


# --- captioner run with packages in a model store of its own (real Whisper) --------------


@pytest.fixture
def store(tmp_path, model_dir) -> tuple[Path, dict]:
    """An empty model store holding only whisper-base, and the environment that uses it."""
    root = tmp_path / "models"
    root.mkdir()
    (root / "whisper-base").symlink_to(model_dir, target_is_directory=True)
    argos_home = tmp_path / "argos-home"
    argos_home.mkdir()
    return root, {"CAPTIONER_MODELS": str(root), "ARGOS_PACKAGES_DIR": str(argos_home)}


def run_clip(clip, tmp_path, env) -> tuple[int, list[dict], str]:
    done = run_cli("run", "--input", str(clip.path), "--print", "--speed", "4", "--port", "0",
                   "--sessions", str(tmp_path / "sessions"), env=env)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def _garbage_model(pkg: Path) -> None:
    (pkg / "model" / "model.bin").write_bytes(b"not a model" * 50)


def _short_vocabulary(pkg: Path) -> None:
    vocab = pkg / "model" / "shared_vocabulary.json"
    vocab.write_text(json.dumps(json.loads(vocab.read_text())[:20]))


def _bad_metadata(pkg: Path) -> None:
    (pkg / "metadata.json").write_text('{"from_code": "en", "to_co')


@pytest.mark.integration
@pytest.mark.parametrize("damage", [
    pytest.param(_garbage_model, id="garbage-model-bin"),
    pytest.param(_short_vocabulary, id="short-vocabulary"),
    pytest.param(_bad_metadata, id="unreadable-metadata"),
])
def test_run_with_a_corrupt_package_still_captions(clips, store, tmp_path, tiny_dir, damage):
    root, env = store
    pkg = Path(shutil.copytree(tiny_dir, root / "argos-en-ru"))
    damage(pkg)
    rc, lines, stderr = run_clip(clips["en_welcome"], tmp_path, env)
    assert "Traceback" not in stderr
    assert rc == 0, stderr
    floor_caps = [m for m in lines if m["type"] == "caption" and m["final"]
                  and m["source"] == "floor"]
    assert floor_caps and {m["lang"] for m in floor_caps} == {"en"}
    unavailable = [m for m in lines if m.get("state") == "translation_unavailable"]
    assert len(unavailable) == 1, unavailable
    (status,) = unavailable
    assert (status["direction"], status["lang"]) == ("en->ru", "ru")
    assert str(pkg) in status["reason"] and "\n" not in status["reason"]
    assert not [m for m in lines if m["type"] == "caption" and m["lang"] == "ru"]


@pytest.mark.integration
def test_run_with_a_package_gives_machine_captions(clips, store, tmp_path, tiny_dir):
    root, env = store
    shutil.copytree(tiny_dir, root / "argos-en-ru")
    rc, lines, stderr = run_clip(clips["en_welcome"], tmp_path, env)
    assert rc == 0, stderr
    assert "Traceback" not in stderr
    assert not [m for m in lines if m.get("state") in ("translation_unavailable",
                                                        "translation_error")]
    finals = [m for m in lines if m["type"] == "caption" and m["final"]]
    floor_caps = [m for m in finals if m["source"] == "floor"]
    machine = [m for m in finals if m["source"] == "machine"]
    assert floor_caps and {m["lang"] for m in floor_caps} == {"en"}
    assert machine, "expected machine captions from the en->ru package"
    seqs = [m["seq"] for m in finals]
    assert seqs == list(range(1, len(seqs) + 1))
    end = max(m["end_s"] for m in floor_caps)
    for m in machine:
        # Random weights: only the structure is checked, never the text.
        assert m["lang"] == "ru" and m["text"] and m["id"].startswith("mt-floor-")
        assert 0 <= m["start_s"] <= m["end_s"] <= end + 0.01
    assert [m["start_s"] for m in machine] == sorted(m["start_s"] for m in machine)
