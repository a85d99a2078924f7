import numpy as np
import pytest

from captioner.errors import AudioError
from captioner.events import SAMPLE_RATE
from captioner.inputs.audio import decode_file, iter_file_blocks
from captioner.synth import write_wav


def tone(seconds=1.0, rate=44100, freq=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_resamples_stereo_44k_to_16k_mono(tmp_path):
    stereo = np.stack([tone(), tone()], axis=1)
    path = write_wav(tmp_path / "s.wav", stereo, rate=44100)
    audio = decode_file(path)
    assert audio.dtype == np.float32
    assert abs(len(audio) - SAMPLE_RATE) < 200
    assert 0.3 < np.abs(audio).max() <= 1.0


def test_blocks_cover_the_whole_file(tmp_path):
    path = write_wav(tmp_path / "m.wav", tone(2.3, rate=16000), rate=16000)
    blocks = list(iter_file_blocks(path, block_s=0.5))
    assert all(len(b) == 8000 for b in blocks[:-1])
    assert abs(sum(len(b) for b in blocks) - int(2.3 * 16000)) < 50


@pytest.mark.parametrize("content", [b"", b"just some text, not audio\n" * 20])
def test_not_audio_is_a_clear_error(tmp_path, content):
    path = tmp_path / "fake.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="fake.wav"):
        decode_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        decode_file(tmp_path / "absent.flac")


def test_header_only_wav_is_empty(tmp_path):
    path = write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match="no audio samples"):
        decode_file(path)
