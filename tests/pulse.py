"""Test helpers: a private PulseAudio daemon with virtual (null) sinks to capture from.

The daemon runs in user mode for the test run only, with its home, runtime and
config folders inside a temporary folder, so the machine's own sound set-up (if
any) is neither used nor touched. PortAudio reaches it through ALSA's ``pulse``
device (libasound2-plugins), which reads ``PULSE_SERVER``; PortAudio lists devices
once, at initialisation, so it is re-initialised after the environment is set.

Needs the apt packages pulseaudio, pulseaudio-utils, libportaudio2 and
libasound2-plugins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from captioner.inputs.devices import list_devices

TOOLS = ("pulseaudio", "pactl", "paplay")


def wait_until(condition: Callable[[], object], timeout: float, what: str,
               interval: float = 0.05) -> object:
    """Polls ``condition`` until it returns something truthy; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def tone(freq: float, seconds: float, rate: int = 48000, amplitude: float = 0.5) -> np.ndarray:
    """A sine of ``amplitude`` (0.5 = -6 dBFS peak, -9 dBFS RMS)."""
    n = np.arange(round(seconds * rate))
    return amplitude * np.sin(2 * np.pi * freq * n / rate)


def write_wav(path: Path, channels: list[np.ndarray], rate: int = 48000) -> Path:
    """Writes 16-bit PCM, one array per channel (all the same length)."""
    data = np.stack(channels, axis=1)
    pcm = np.round(np.clip(data, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


@dataclass
class PulseDaemon:
    """A private PulseAudio server and the environment its clients need."""

    root: Path
    proc: subprocess.Popen
    socket: Path
    log_path: Path
    env: dict[str, str]        # for pactl/paplay subprocesses
    client_env: dict[str, str]  # for clients inside the test process (PortAudio/ALSA)

    @classmethod
    def start(cls, root: Path, timeout: float = 15.0) -> PulseDaemon:
        """Starts the daemon with no hardware modules and waits until it answers.

        Raises:
            pytest.skip.Exception: a PulseAudio tool is not installed.
        """
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)} (apt install pulseaudio pulseaudio-utils)")
        home, runtime = root / "home", root / "run"
        for folder in (home, runtime):
            folder.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        socket = runtime / "native"
        # Only the native protocol: no hardware, no D-Bus, no X11, no auto-null-sink.
        (root / "default.pa").write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n")
        (root / "client.conf").write_text(
            f"autospawn = no\ndefault-server = unix:{socket}\ncookie-file = {root / 'cookie'}\n")
        client_env = {"PULSE_SERVER": f"unix:{socket}",
                      "PULSE_CLIENTCONFIG": str(root / "client.conf"),
                      "PULSE_COOKIE": str(root / "cookie")}
        env = {**os.environ, **client_env, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
               "XDG_CONFIG_HOME": str(home / ".config"),
               "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
               "PULSE_STATE_PATH": str(root / "state")}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.pop("DISPLAY", None)
        log_path = root / "pulseaudio.log"
        with log_path.open("wb") as log:
            # Root runs it too (CI containers): it warns but works in user mode.
            proc = subprocess.Popen(
                ["pulseaudio", "--daemonize=no", "--system=false", "--exit-idle-time=-1",
                 "--disallow-exit", "--use-pid-file=no", "-n", "-F", str(root / "default.pa"),
                 "--log-target=stderr", "--log-level=notice"],
                env=env, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        daemon = cls(root, proc, socket, log_path, env, client_env)

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"pulseaudio exited with {proc.returncode}: {daemon.log_tail()}")
            return daemon.run("pactl", "info", check=False).returncode == 0

        wait_until(ready, timeout, "pulseaudio to answer `pactl info`", interval=0.1)
        return daemon

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs a PulseAudio tool against this daemon."""
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=10)
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed ({result.returncode}): "
                        f"{result.stderr.strip()}\n{self.log_tail()}")
        return result

    def pactl(self, *args: str) -> str:
        return self.run("pactl", *args).stdout.strip()

    def load_null_sink(self, name: str, channels: int = 2, rate: int = 48000) -> int:
        """Loads a virtual sink (and so ``NAME.monitor``, a source); returns the module id."""
        module = int(self.pactl("load-module", "module-null-sink", f"sink_name={name}",
                                f"channels={channels}", f"rate={rate}"))
        self.pactl("set-default-source", f"{name}.monitor")
        self.pactl("set-default-sink", name)
        return module

    def null_sink_for_capture(self, name: str, channels: int = 2, rate: int = 48000) -> int:
        """Loads a null sink as the default source and has PortAudio re-scan for it.

        Returns:
            The module id, for :meth:`unload_module`.
        """
        module = self.load_null_sink(name, channels, rate)
        names = [d.name for d in list_devices(rescan=True)]
        if "pulse" not in names:
            pytest.fail(f"PortAudio does not list ALSA's 'pulse' input (found {names}); "
                        "is libasound2-plugins installed?")
        return module

    def unload_module(self, module: int) -> None:
        self.pactl("unload-module", str(module))

    def unload_sink(self, name: str) -> None:
        """Unloads whichever null-sink module provides sink ``name``, if any."""
        for line in self.pactl("list", "short", "modules").splitlines():
            index, _, rest = line.partition("\t")
            if rest.startswith("module-null-sink") and f"sink_name={name}" in rest.split():
                self.unload_module(int(index))

    def sources(self) -> list[str]:
        return [line.split("\t")[1] for line in self.pactl("list", "short", "sources").splitlines()
                if "\t" in line]

    def play(self, wav: Path, sink: str) -> subprocess.Popen:
        """Starts ``paplay`` of a WAV file into a sink; the caller waits for it."""
        return subprocess.Popen(["paplay", f"--device={sink}", str(wav)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextmanager
def portaudio_on(daemon: PulseDaemon) -> Iterator[None]:
    """Points this process's PortAudio (via ALSA's pulse plugin) at the daemon.

    Sets the client environment, re-initialises PortAudio so it enumerates the
    ``pulse`` device against this server, and restores both afterwards.
    """
    saved = {key: os.environ.get(key) for key in daemon.client_env}
    os.environ.update(daemon.client_env)
    try:
        list_devices(rescan=True)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        list_devices(rescan=True)


@pytest.fixture(scope="session")
def pulse_daemon(tmp_path_factory) -> Iterator[PulseDaemon]:
    """A private PulseAudio daemon for the test session, with PortAudio pointed at it."""
    daemon = PulseDaemon.start(tmp_path_factory.mktemp("pulse"))
    try:
        with portaudio_on(daemon):
            yield daemon
    finally:
        daemon.stop()
