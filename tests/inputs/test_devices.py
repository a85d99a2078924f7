"""Unit tests of device listing and resolution (plain device lists, no PortAudio)."""

from __future__ import annotations

import pytest

from captioner.errors import AudioError
from captioner.inputs.devices import (
    DeviceInfo,
    devices_from,
    format_devices,
    refind_device,
    resolve_device,
)


def dev(index, name, channels=2, rate=48000.0, default=False, hostapi="ALSA"):
    return DeviceInfo(index, name, hostapi, channels, rate, default)


DEVICES = [
    dev(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)"),
    dev(2, "Behringer UMC404HD 192k: USB Audio (hw:1,0)", channels=4),
    dev(3, "Zoom LiveTrak L-8: USB Audio (hw:2,0)", channels=12),
    dev(5, "pulse", channels=32, rate=44100.0),
    dev(6, "default", channels=32, rate=44100.0, default=True),
]


@pytest.mark.parametrize("spec, index", [
    ("mic", 6), ("default", 6), ("DEFAULT", 6), ("2", 2), ("umc404", 2),
    ("livetrak", 3), ("Pulse", 5), ("  zoom ", 3),
])
def test_resolve_device(spec, index):
    assert resolve_device(spec, DEVICES).index == index


def test_resolve_device_whole_name_beats_partial():
    devs = [dev(0, "pulse"), dev(1, "pulse monitor")]
    assert resolve_device("pulse", devs).index == 0


def test_resolve_device_ambiguous_lists_candidates():
    with pytest.raises(AudioError) as err:
        resolve_device("usb audio", DEVICES)
    assert "ambiguous" in err.value.message
    assert "UMC404HD" in err.value.message and "LiveTrak" in err.value.message
    assert "ALC257" not in err.value.message


@pytest.mark.parametrize("spec", ["focusrite", "7"])
def test_resolve_device_unknown_lists_inputs_and_hints(spec):
    with pytest.raises(AudioError) as err:
        resolve_device(spec, DEVICES)
    assert "\n" not in err.value.message
    assert "2: Behringer" in err.value.message and "6: default" in err.value.message
    assert "captioner devices" in err.value.hint


def test_resolve_default_without_devices():
    with pytest.raises(AudioError, match="no audio input"):
        resolve_device("mic", [])


def test_refind_device_by_name_after_renumbering():
    before = DEVICES[1]
    after = [dev(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)"),
             dev(4, "Behringer UMC404HD 192k: USB Audio (hw:3,0)", channels=4)]
    assert refind_device("2", before, after).index == 4
    with pytest.raises(AudioError, match="not connected"):
        refind_device("2", before, after[:1])
    assert refind_device("mic", before, [*after, dev(9, "default", default=True)]).index == 9


def test_devices_from_query_results():
    raw = [{"name": "out only", "hostapi": 0, "max_input_channels": 0,
            "default_samplerate": 48000.0},
           {"name": "USB mixer", "hostapi": 0, "max_input_channels": 8,
            "default_samplerate": 48000.0},
           {"name": "default", "hostapi": 0, "max_input_channels": 32,
            "default_samplerate": 44100.0}]
    apis = [{"name": "ALSA", "default_input_device": 2}]
    devs = devices_from(raw, apis, -1)
    assert [(d.index, d.name, d.max_input_channels, d.is_default) for d in devs] == [
        (1, "USB mixer", 8, False), (2, "default", 32, True)]
    assert devices_from(raw, apis, 1)[0].is_default


def test_format_devices_marks_default():
    table = format_devices(DEVICES).splitlines()
    assert "name" in table[0] and "rate" in table[0]
    (default_row,) = [line for line in table[1:-1] if line.startswith("*")]
    assert "default" in table[-1]
    assert "default" in default_row and "44100" in default_row
    assert any("UMC404HD" in line and " 4 " in line for line in table)
    assert format_devices([]) == "no audio inputs found"
