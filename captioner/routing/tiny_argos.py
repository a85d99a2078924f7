"""A tool for the tests and the benchmarks: builds a tiny Argos package with random weights.

This is not a translation model and nothing in a live session uses it. It writes a
tiny but real Argos Translate package, so that the tests and ``bench.translate`` /
``bench.tracks`` can load, decode and install a package where no real one is
installed (and with no network to fetch one).

The package has the layout of a published ``.argosmodel``: one top folder holding
``metadata.json``, ``sentencepiece.model`` and ``model/`` (a CTranslate2 Transformer
with a shared vocabulary). The SentencePiece model is trained here on a few dozen
lines; the Transformer has one layer and random weights, so it loads and decodes like
a real package but its output is gibberish. It proves plumbing, never quality.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

# What the tokenizer learns from: the kind of sentences heard at the events we caption,
# in both languages (Argos packages share one SentencePiece model between the sides),
# with digits and capitals so placeholders such as XQ12Z tokenize without <unk>.
CORPUS = (
    "Good afternoon, ladies and gentlemen.",
    "Today we will discuss climate finance for Central Asia.",
    "The role of development banks is growing every year.",
    "Water resources in the region are shrinking.",
    "We need shared solutions and new investment in agriculture.",
    "Thank you for your attention, and now the floor is open for questions.",
    "The next speaker represents the Ministry of Energy.",
    "In 2023 the programme reached 14 countries and 250 cities.",
    "Please switch your microphones off when you are not speaking.",
    "Could the interpreters in booth 2 confirm that they hear us?",
    "The coffee break will last 15 minutes.",
    "UNDP, OSCE and the World Bank have joined the initiative.",
    "Emissions fell by 3.5 percent, which is not enough.",
    "Let me summarise the three main points of the report.",
    "Is there anyone online who would like to ask a question?",
    "Our panel brings together experts from Kazakhstan, Uzbekistan and Kyrgyzstan.",
    "Добрый день, уважаемые коллеги.",
    "Сегодня мы обсуждаем изменение климата в Центральной Азии.",
    "Водные ресурсы региона сокращаются.",
    "Нам нужны общие решения и новые инвестиции в сельское хозяйство.",
    "Спасибо за внимание, теперь можно задавать вопросы.",
    "Следующий докладчик представляет Министерство энергетики.",
    "В 2023 году программа охватила 14 стран и 250 городов.",
    "Пожалуйста, выключайте микрофоны, когда не выступаете.",
    "Кофе-брейк продлится 15 минут.",
    "ПРООН, ОБСЕ и Всемирный банк присоединились к инициативе.",
    "Выбросы сократились на 3,5 процента, но этого недостаточно.",
    "Позвольте подвести итоги трёх главных пунктов доклада.",
    "Есть ли кто-нибудь онлайн, кто хотел бы задать вопрос?",
    "Наша панель объединяет экспертов из Казахстана, Узбекистана и Кыргызстана!",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 … ; : - ( ) « »",
    "XQ1Z XQ2Z XQ3Z XQ10Z XQ12Z",
)

D_MODEL = 16
FFN = 32
HEADS = 2


def train_sentencepiece(lines=CORPUS, vocab_size: int = 160) -> bytes:
    """A small unigram SentencePiece model trained on ``lines``, as the bytes of its file."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type="unigram",
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
    )
    return buf.getvalue()


def _fill(spec, vocab_size: int, rng: np.random.Generator, bias: np.ndarray) -> None:
    """Sets every required variable of a 1-layer Transformer spec to random weights."""
    from ctranslate2.specs import common_spec

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    def norm(ln) -> None:
        ln.gamma = np.ones(D_MODEL, np.float32)
        ln.beta = np.zeros(D_MODEL, np.float32)

    def linear(lin: common_spec.LinearSpec, out_dim: int, in_dim: int) -> None:
        lin.weight = rand(out_dim, in_dim)
        lin.bias = np.zeros(out_dim, np.float32)

    def ffn(f) -> None:
        norm(f.layer_norm)
        linear(f.linear_0, FFN, D_MODEL)
        linear(f.linear_1, D_MODEL, FFN)

    enc, dec = spec.encoder, spec.decoder
    for emb in enc.embeddings:
        emb.weight = rand(vocab_size, D_MODEL)
    norm(enc.layer_norm)
    for layer in enc.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * D_MODEL, D_MODEL)  # fused q, k, v
        linear(layer.self_attention.linear[1], D_MODEL, D_MODEL)
        ffn(layer.ffn)

    dec.embeddings.weight = rand(vocab_size, D_MODEL)
    norm(dec.layer_norm)
    for layer in dec.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * D_MODEL, D_MODEL)
        linear(layer.self_attention.linear[1], D_MODEL, D_MODEL)
        norm(layer.attention.layer_norm)
        linear(layer.attention.linear[0], D_MODEL, D_MODEL)  # query
        linear(layer.attention.linear[1], 2 * D_MODEL, D_MODEL)  # fused key, value
        linear(layer.attention.linear[2], D_MODEL, D_MODEL)
        ffn(layer.ffn)
    dec.projection.weight = rand(vocab_size, D_MODEL)
    dec.projection.bias = bias


def build_package_dir(dest: Path, from_code: str = "en", to_code: str = "ru", *,
                      seed: int = 0, logit_bias: dict[str, float] | None = None,
                      metadata_extra: dict | None = None) -> Path:
    """Writes an unpacked Argos package into a new folder under ``dest``.

    Args:
        dest: Parent folder; the package folder is ``dest/translate-<from>_<to>-tiny``.
        from_code: Source language code written to metadata.json.
        to_code: Target language code.
        seed: Seed of the random weights.
        logit_bias: Added to the output logits of these pieces. CTranslate2 never
            ends a translation before its first token, so ``{"</s>": 100, "▁": 50}``
            makes a model whose translations are always empty (a lone space piece).
        metadata_extra: More metadata.json keys (``target_prefix``...).

    Returns:
        The package folder.
    """
    import ctranslate2
    import sentencepiece as spm

    root = Path(dest) / f"translate-{from_code}_{to_code}-tiny"
    (root / "model").mkdir(parents=True)
    sp_bytes = train_sentencepiece()
    (root / "sentencepiece.model").write_bytes(sp_bytes)
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]

    spec = ctranslate2.specs.TransformerSpec.from_config(num_layers=1, num_heads=HEADS)
    bias = np.zeros(len(vocab), np.float32)
    for piece, value in (logit_bias or {}).items():
        bias[vocab.index(piece)] = value
    _fill(spec, len(vocab), np.random.default_rng(seed), bias)
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    spec.validate()
    spec.optimize(quantization="int8")  # published Argos models are int8 too
    spec.save(str(root / "model"))

    metadata = {
        "package_version": "0.0-tiny",
        "argos_version": "1.9",
        "from_code": from_code,
        "from_name": {"en": "English", "ru": "Russian"}.get(from_code, from_code),
        "to_code": to_code,
        "to_name": {"en": "English", "ru": "Russian"}.get(to_code, to_code),
        "name": f"tiny random {from_code}->{to_code} (test fixture)",
        "type": "translate",
    }
    metadata.update(metadata_extra or {})
    (root / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    (root / "README.md").write_text("Random weights; for tests only.\n", encoding="utf-8")
    return root


def zip_package(package_dir: Path, archive: Path) -> Path:
    """Zips an unpacked package into a ``.argosmodel`` (one top folder, as published)."""
    package_dir = Path(package_dir)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package_dir.rglob("*")):
            arc = Path(package_dir.name) / path.relative_to(package_dir)
            zf.write(path, arc.as_posix())
    return archive


def build_argosmodel(dest: Path, from_code: str = "en", to_code: str = "ru",
                     **kwargs) -> Path:
    """Builds a package and zips it to ``dest/translate-<from>_<to>.argosmodel``."""
    dest = Path(dest)
    folder = build_package_dir(dest / "unpacked", from_code, to_code, **kwargs)
    return zip_package(folder, dest / f"translate-{from_code}_{to_code}.argosmodel")
