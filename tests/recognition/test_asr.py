"""Device placement: auto choices, and the fall back when CUDA is present but unusable."""

import pytest

from captioner.errors import ModelError
from captioner.recognition import asr
from captioner.recognition.asr import WhisperEngine, choose_placement, token_budget, window_for


def test_auto_is_int8_on_cpu_float16_on_cuda(monkeypatch):
    monkeypatch.setattr(asr, "cuda_available", lambda: False)
    cpu = choose_placement()
    assert (cpu.device, cpu.compute_type, cpu.chosen_automatically) == ("cpu", "int8", True)
    assert cpu.threads >= 1
    monkeypatch.setattr(asr, "cuda_available", lambda: True)
    gpu = choose_placement()
    assert (gpu.device, gpu.compute_type) == ("cuda", "float16")
    assert choose_placement("cpu", "float32", 3) == asr.Placement("cpu", "float32", 3)


def test_windows_keep_a_margin_and_tokens_are_bounded():
    assert window_for(2.0) == 10
    assert window_for(7.5) == 15
    assert window_for(40.0) == 30
    assert token_budget(1.0) < token_budget(5.0) <= 224
    assert token_budget(100.0) == 224


class _BrokenCuda:
    """Stands in for WhisperModel where CUDA's libraries are missing."""

    loads: list = []

    def __init__(self, path, device, compute_type, cpu_threads, local_files_only):
        self.device = device
        _BrokenCuda.loads.append((device, compute_type))

    def feature_extractor(self, audio, chunk_length):
        import numpy as np

        return np.zeros((80, 3000), dtype="float32")

    def encode(self, features):
        if self.device == "cuda":
            raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")
        return None


def test_unusable_cuda_falls_back_to_cpu_when_chosen_automatically(monkeypatch, tmp_path):
    monkeypatch.setattr(asr, "_windowed_model_class", lambda: _BrokenCuda)
    monkeypatch.setattr(asr, "cuda_available", lambda: True)
    _BrokenCuda.loads = []
    engine = WhisperEngine(tmp_path, choose_placement())
    assert engine.placement.device == "cpu" and engine.placement.compute_type == "int8"
    assert _BrokenCuda.loads == [("cuda", "float16"), ("cpu", "int8")]


def test_unusable_cuda_asked_for_explicitly_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(asr, "_windowed_model_class", lambda: _BrokenCuda)
    with pytest.raises(ModelError, match="cannot run on CUDA here: Library libcublas.so.12"):
        WhisperEngine(tmp_path, choose_placement("cuda"))
