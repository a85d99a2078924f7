"""Sound devices: listing and resolving inputs, and the PortAudio backend that opens them.

The AV technician names an input by number or by part of its name (``captioner
devices`` lists them); :func:`resolve_device` finds it, and :func:`refind_device`
finds it again after it was re-plugged, when PortAudio may have renumbered it.
:class:`PortAudioBackend` is the one place that calls PortAudio (``sounddevice``);
:class:`~captioner.inputs.capture.MicrophoneSource` takes any :class:`CaptureBackend`,
so tests drive it with a fake device.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from captioner.errors import AudioError

DEFAULT_SPECS = ("mic", "default")
DEVICES_HINT = "run `captioner devices` to list the inputs"

# PortAudio is one process-wide library: re-scanning (terminate + initialise) while
# another thread opens a stream would pull the rug from under it.
_portaudio_lock = threading.Lock()


# -- devices -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """An input-capable sound device as PortAudio lists it.

    Attributes:
        index: PortAudio device index (changes when devices come and go).
        name: Device name as PortAudio reports it.
        hostapi: Host API name (``ALSA``, ``Core Audio``, ``Windows WASAPI``...).
        max_input_channels: Input channels the device offers.
        default_samplerate: The device's native/default rate in Hz.
        is_default: Whether it is the default input.
    """

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool = False


def _sounddevice():
    """Imports sounddevice, turning a missing PortAudio library into an AudioError."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioError(f"cannot load the PortAudio library ({exc})",
                         hint="install it: apt install libportaudio2") from None
    return sounddevice


def devices_from(raw: Sequence[Mapping[str, Any]], hostapis: Sequence[Mapping[str, Any]],
                 default_input: int | None) -> list[DeviceInfo]:
    """Builds the input-device list from what ``sounddevice.query_devices`` returns.

    Args:
        raw: Device dicts (``name``, ``hostapi``, ``max_input_channels``,
            ``default_samplerate``), in index order.
        hostapis: Host API dicts (``name``, ``default_input_device``).
        default_input: Index of the default input, or None/-1 for "ask the host APIs".

    Returns:
        The devices with at least one input channel.
    """
    if default_input is None or default_input < 0:
        default_input = next((int(api["default_input_device"]) for api in hostapis
                              if int(api.get("default_input_device", -1)) >= 0), -1)
    out = []
    for index, dev in enumerate(raw):
        if int(dev["max_input_channels"]) <= 0:
            continue
        api = hostapis[dev["hostapi"]]["name"] if dev["hostapi"] < len(hostapis) else "?"
        out.append(DeviceInfo(index=index, name=str(dev["name"]), hostapi=str(api),
                              max_input_channels=int(dev["max_input_channels"]),
                              default_samplerate=float(dev["default_samplerate"]),
                              is_default=index == default_input))
    return out


def list_devices(rescan: bool = False) -> list[DeviceInfo]:
    """Lists the input-capable sound devices.

    Args:
        rescan: Re-initialise PortAudio first, so devices plugged in (or out) since it
            started are seen; PortAudio otherwise keeps the list it made at start-up.
            Never do this while a stream of this process is open.

    Raises:
        AudioError: PortAudio is not installed or cannot list devices.
    """
    return PortAudioBackend().devices(rescan=rescan)


def format_devices(devs: Sequence[DeviceInfo]) -> str:
    """Formats input devices as a table for ``captioner devices``; ``*`` marks the default."""
    if not devs:
        return "no audio inputs found"
    rows = [("", "#", "name", "host API", "inputs", "rate")]
    rows += [("*" if d.is_default else "", str(d.index), d.name, d.hostapi,
              str(d.max_input_channels), f"{d.default_samplerate:g}") for d in devs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]),
                 row[3].ljust(widths[3]), row[4].rjust(widths[4]), row[5].rjust(widths[5])]
        lines.append("  ".join(cells).rstrip())
    lines.append("* = default input; choose an input by its number or part of its name")
    return "\n".join(lines)


def _available(devs: Sequence[DeviceInfo]) -> str:
    return ", ".join(f"{d.index}: {d.name}" for d in devs) or "none"


def resolve_device(spec: str, devices: Sequence[DeviceInfo] | None = None) -> DeviceInfo:
    """Finds the input device a user means.

    Args:
        spec: ``"mic"`` or ``"default"`` for the default input; a device index; or a
            case-insensitive part of the name (a whole-name match wins over partial ones).
        devices: The devices to choose from; the live list when None.

    Raises:
        AudioError: no such input, or the name matches several inputs (the message
            lists the candidates).
    """
    devs = list(devices) if devices is not None else list_devices()
    text = str(spec).strip()
    if text.lower() in DEFAULT_SPECS:
        for dev in devs:
            if dev.is_default:
                return dev
        if devs:
            return devs[0]
        raise AudioError("no audio input devices found", hint=DEVICES_HINT)
    if re.fullmatch(r"\d+", text):
        index = int(text)
        for dev in devs:
            if dev.index == index:
                return dev
        raise AudioError(f"no audio input with number {index}; available inputs: "
                         f"{_available(devs)}", hint=DEVICES_HINT)
    wanted = text.lower()
    exact = [d for d in devs if d.name.lower() == wanted]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [d for d in devs if wanted in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AudioError(f"audio input {text!r} is ambiguous; it matches {_available(matches)}",
                         hint="give the number or more of the name")
    raise AudioError(f"no audio input matches {text!r}; available inputs: {_available(devs)}",
                     hint=DEVICES_HINT)


def _bare_name(name: str) -> str:
    """A device name without the ALSA card/device numbers, which change on re-plugging."""
    return re.sub(r"\s*\((hw|plughw):\d+,\d+\)\s*$", "", name).strip().lower()


def refind_device(spec: str, previous: DeviceInfo, devices: Sequence[DeviceInfo]) -> DeviceInfo:
    """Finds a device again after re-enumeration, when indices may have changed.

    ``mic``/``default`` follow whatever the default input now is; anything else is
    looked up by the previous device's name, ignoring ALSA's ``(hw:N,M)`` suffix.

    Raises:
        AudioError: the device is not (yet) back.
    """
    if spec.strip().lower() in DEFAULT_SPECS:
        return resolve_device(spec, devices)
    for key in (lambda d: d.name == previous.name,
                lambda d: _bare_name(d.name) == _bare_name(previous.name)):
        found = [d for d in devices if key(d)]
        if found:
            return min(found, key=lambda d: (d.hostapi != previous.hostapi, d.index))
    raise AudioError(f"audio input {previous.name!r} is not connected; available inputs: "
                     f"{_available(devices)}", hint=DEVICES_HINT)


# -- backends --------------------------------------------------------------------------------


class InputStreamLike(Protocol):
    """What the source needs of an opened input stream."""

    def start(self) -> None: ...

    def abort(self, ignore_errors: bool = True) -> None: ...

    def close(self, ignore_errors: bool = True) -> None: ...


class CaptureBackend(Protocol):
    """Lists and opens input devices; PortAudio in production, a fake in tests."""

    def devices(self, rescan: bool = False) -> list[DeviceInfo]:
        """The input devices; ``rescan`` re-enumerates the hardware first."""
        ...

    def open(self, device: DeviceInfo, samplerate: float, channels: int, blocksize: int,
             callback: Callable[[np.ndarray, int, Any, Any], None],
             finished_callback: Callable[[], None]) -> InputStreamLike:
        """Opens (unstarted) a float32 input stream calling ``callback`` per block.

        Raises:
            AudioError: the device cannot be opened with these settings.
        """
        ...


class PortAudioBackend:
    """Capture through PortAudio, by way of the ``sounddevice`` package."""

    def devices(self, rescan: bool = False) -> list[DeviceInfo]:
        sd = _sounddevice()
        try:
            with _portaudio_lock:
                if rescan:
                    # PortAudio enumerates devices once, at initialisation; this is the
                    # only way to see a re-plugged interface (and its new index).
                    try:
                        sd._terminate()
                    except sd.PortAudioError:  # a previous re-initialisation failed
                        pass
                    sd._initialize()
                raw = sd.query_devices()
                hostapis = sd.query_hostapis()
                default_input = sd.default.device[0]
        except sd.PortAudioError as exc:
            raise AudioError(f"cannot list audio devices ({exc})") from None
        default = int(default_input) if default_input is not None else -1
        return devices_from(list(raw), list(hostapis), default)

    def open(self, device: DeviceInfo, samplerate: float, channels: int, blocksize: int,
             callback: Callable[[np.ndarray, int, Any, Any], None],
             finished_callback: Callable[[], None]) -> InputStreamLike:
        sd = _sounddevice()
        try:
            with _portaudio_lock:
                return sd.InputStream(device=device.index, samplerate=samplerate,
                                      channels=channels, dtype="float32",
                                      blocksize=blocksize, callback=callback,
                                      finished_callback=finished_callback)
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(f"cannot open audio input {device.name!r} at "
                             f"{samplerate:g} Hz, {channels} channel(s): {exc}") from None
