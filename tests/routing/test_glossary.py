"""The event glossary: hotwords, fixes of misrecognitions, MT mapping and protection,
config loading."""

from __future__ import annotations

import logging

import pytest

from captioner.config import PROJECT_ROOT, GlossaryTerm, load_config
from captioner.errors import ConfigError
from captioner.routing.glossary import Glossary, protect, restore

COP = PROJECT_ROOT / "configs" / "cop_side_event.toml"

TERMS = (
    GlossaryTerm(en="CAREC", ru="ЦАРЭС", misheard=("Карек", "Carrick", "Car Rec")),
    GlossaryTerm(en="Paris Agreement", ru="Парижское соглашение",
                 misheard=("Paris agreement", "Parisian agreement")),
    GlossaryTerm(en="Green Climate Fund", ru="Зелёный климатический фонд"),
    GlossaryTerm(en="UNDP"),  # one form: the same in both languages
    GlossaryTerm(ru="Минприроды"),
)

# Source form -> target form, as Glossary.mapping gives them to protect().
MT_TERMS = {
    "climate finance": "климатическое финансирование",
    "climate": "климат",
    "UNDP": "ПРООН",
    "Central Asia": "Центральная Азия",
}


@pytest.fixture
def glossary() -> Glossary:
    return Glossary(TERMS)


# --- hotwords ----------------------------------------------------------------------------


def test_hotwords_per_language_fall_back_to_the_only_form(glossary):
    assert glossary.hotwords("en") == ("CAREC Paris Agreement Green Climate Fund UNDP "
                                       "Минприроды")
    assert glossary.hotwords("ru") == ("ЦАРЭС Парижское соглашение Зелёный климатический "
                                       "фонд UNDP Минприроды")


def test_hotwords_are_capped_and_skip_what_does_not_fit(glossary):
    capped = glossary.hotwords("en", limit_chars=30)
    assert len(capped) <= 30
    # "Green Climate Fund" does not fit after the first two; shorter terms still do.
    assert capped == "CAREC Paris Agreement UNDP"
    assert glossary.hotwords("en", limit_chars=3) == ""


def test_no_terms_no_hotwords():
    assert Glossary().hotwords("ru") == ""


# --- fixing committed text ----------------------------------------------------------------


def test_fix_replaces_misrecognitions_whole_words_any_case(glossary):
    assert glossary.fix("The carrick programme and CAR REC.", "en") == \
        "The CAREC programme and CAREC."
    assert glossary.fix("Программа карек работает", "ru") == "Программа ЦАРЭС работает"
    # Whole words only: a variant inside a longer word is left alone.
    assert glossary.fix("Carricks and McCarrick", "en") == "Carricks and McCarrick"


def test_fix_normalises_the_case_of_listed_variants(glossary):
    assert glossary.fix("under the paris agreement, and the Parisian Agreement", "en") == \
        "under the Paris Agreement, and the Paris Agreement"


def test_fix_replaces_the_other_language_form(glossary):
    assert glossary.fix("Фонд Green Climate Fund и ЦАРЭС.", "ru") == \
        "Фонд Зелёный климатический фонд и ЦАРЭС."
    assert glossary.fix("The ЦАРЭС region and the Парижское соглашение.", "en") == \
        "The CAREC region and the Paris Agreement."


def test_fix_treats_yo_as_ye_and_any_spacing_alike(glossary):
    assert glossary.fix("the зеленый  климатический фонд", "en") == "the Green Climate Fund"
    assert glossary.fix("Car\u00a0Rec", "ru") == "ЦАРЭС"


def test_fix_replaces_in_one_pass(glossary):
    # One term's form is another term's misrecognition: a replacement is not replaced.
    chained = Glossary((GlossaryTerm(en="A1", ru="Бета", misheard=("Alpha",)),
                        GlossaryTerm(en="Gamma", ru="Гамма", misheard=("Бета",))))
    assert chained.fix("Alpha", "ru") == "Бета"


def test_fix_leaves_text_without_terms_alone(glossary):
    text = "Nothing to see here, только текст."
    assert glossary.fix(text, "en") == text
    assert Glossary().fix(text, "ru") == text
    assert glossary.fix("", "ru") == ""


def test_fix_targets_with_backslashes_are_literal():
    g = Glossary((GlossaryTerm(en=r"C\1", misheard=("see one",)),))
    assert g.fix("see one", "en") == r"C\1"


def test_single_form_terms_are_fixed_into_both_languages():
    g = Glossary((GlossaryTerm(en="UNDP", misheard=("UN DP",)),))
    assert g.fix("un dp", "ru") == "UNDP"
    assert g.fix("the UN DP office", "en") == "the UNDP office"


# --- mapping for machine translation ------------------------------------------------------


def test_mapping_pairs_forms_per_direction(glossary):
    assert glossary.mapping("en", "ru") == {
        "CAREC": "ЦАРЭС",
        "Paris Agreement": "Парижское соглашение",
        "Green Climate Fund": "Зелёный климатический фонд",
        "UNDP": "UNDP",
        "Минприроды": "Минприроды",
    }
    assert glossary.mapping("ru", "en")["Парижское соглашение"] == "Paris Agreement"
    assert glossary.mapping("ru", "en")["UNDP"] == "UNDP"
    assert glossary.mapping("en", "de") == {"UNDP": "UNDP", "Минприроды": "Минприроды"}


def test_mapping_protects_terms_through_translation(glossary):
    guarded, holes = protect("UNDP and CAREC signed the paris agreement.",
                             glossary.mapping("en", "ru"))
    assert "UNDP" not in guarded and "CAREC" not in guarded
    assert restore(guarded, holes) == "UNDP and ЦАРЭС signed the Парижское соглашение."


# --- placeholders through machine translation ------------------------------------------


def test_protect_longest_first_case_insensitive_whole_words():
    text, ph = protect("CLIMATE FINANCE and climate, not climates; the undp and UNDP.",
                       MT_TERMS)
    assert text == "XQ1Z and XQ2Z, not climates; the XQ3Z and XQ3Z."
    assert ph == {"XQ1Z": "климатическое финансирование", "XQ2Z": "климат",
                  "XQ3Z": "ПРООН"}


def test_protect_spacing_yo_and_punctuation_terms():
    text, ph = protect("Central\n Asia, ёлка and C++ today", {"central asia": "ЦА",
                                                              "елка": "tree", "C++": "Си++"})
    assert text == "XQ1Z, XQ2Z and XQ3Z today"
    assert list(ph.values()) == ["ЦА", "tree", "Си++"]


def test_protect_without_terms_is_identity():
    assert protect("Hello.", {}) == ("Hello.", {})
    assert protect("", MT_TERMS) == ("", {})
    assert protect("Nothing here.", MT_TERMS) == ("Nothing here.", {})


def test_restore_round_trip():
    text, ph = protect("Climate finance for Central Asia.", MT_TERMS)
    assert restore(text, ph) == "климатическое финансирование for Центральная Азия."


@pytest.mark.parametrize("mt_output, expected", [
    ("Мы обсуждаем XQ1Z в XQ2Z.", "Мы обсуждаем климат в ПРООН."),
    ("Мы обсуждаем XQ 1 Z в xq2z .", "Мы обсуждаем климат в ПРООН."),
    ("Мы обсуждаемXQ1Zв ХQ2Z!", "Мы обсуждаем климат в ПРООН!"),
    ("(XQ1Z) и «XQ2Z»", "(климат) и «ПРООН»"),
    ("XQ1Z, XQ2Z", "климат, ПРООН"),
])
def test_restore_tolerates_spacing_changes(mt_output, expected):
    assert restore(mt_output, {"XQ1Z": "климат", "XQ2Z": "ПРООН"}) == expected


def test_restore_lost_and_invented_placeholders(caplog):
    with caplog.at_level(logging.DEBUG, logger="captioner.routing.glossary"):
        assert restore("Только XQ1Z и XQ7Z тут.", {"XQ1Z": "климат", "XQ2Z": "ПРООН"}) == \
            "Только климат и тут."
        assert restore("(XQ7Z) и XQ8Z.", {"XQ1Z": "климат"}) == "() и."
    assert restore("Модель XQ7Z без глоссария.", {}) == "Модель XQ7Z без глоссария."
    assert "lost placeholder XQ2Z" in caplog.text
    assert "made up" in caplog.text
    assert restore("Без замен.", {}) == "Без замен."



def test_fixes_and_protection_find_terms_alike():
    # One matcher: what fix() rewrites into a term's form, protect() guards, and the
    # same longer word containing the term is left alone by both.
    g = Glossary((GlossaryTerm(en="Green Climate Fund", ru="Зелёный климатический фонд"),))
    terms = g.mapping("ru", "en")
    for text in ("зеленый  климатический ФОНД", "Зелёный\nклиматический фонд"):
        assert g.fix(text, "en") == "Green Climate Fund"
        assert protect(text, terms) == ("XQ1Z", {"XQ1Z": "Green Climate Fund"})
    longer = "Зелёный климатический фондик"
    assert g.fix(longer, "en") == longer
    assert protect(longer, terms) == (longer, {})

# --- the config ---------------------------------------------------------------------------


def test_cop_side_event_config_loads():
    cfg = load_config(COP)
    assert [(i.id, i.source, i.channel) for i in cfg.inputs] == [
        ("floor", "floor", 1), ("booth", "interpretation", 2)]
    assert cfg.glossary.hotwords is True
    by_en = {t.en: t for t in cfg.glossary.terms}
    assert by_en["CAREC"].ru == "ЦАРЭС"
    assert "Carrick" in by_en["CAREC"].misheard
    assert by_en["Amu Darya"].ru == "Амударья"
    assert isinstance(by_en["Kazakhstan"].misheard, tuple)
    glossary = Glossary(cfg.glossary.terms)
    assert glossary.fix("Программа Карек и Аму-Дарья.", "ru") == "Программа ЦАРЭС и Амударья."
    assert glossary.fix("The Amu-Darya and Syr Darya", "en") == "The Amu Darya and Syr Darya"
    assert glossary.fix("Киргизстан и NDC", "ru") == "Кыргызстан и ОНУВ"
    assert glossary.mapping("en", "ru")["Asian Development Bank"] == "Азиатский банк развития"
    for lang in ("ru", "en"):
        hot = glossary.hotwords(lang)
        assert 0 < len(hot) <= 220
    assert "ЦАРЭС" in glossary.hotwords("ru") and "CAREC" in glossary.hotwords("en")


def test_term_with_neither_form_is_a_config_error(tmp_path):
    path = tmp_path / "venue.toml"
    path.write_text('[[glossary.terms]]\nen = "CAREC"\n\n'
                    '[[glossary.terms]]\nmisheard = ["Carrick"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "glossary.terms[1]" in str(err.value)
    assert "en or ru form" in str(err.value)


def test_term_with_an_unknown_key_is_a_config_error(tmp_path):
    path = tmp_path / "venue.toml"
    path.write_text('[[glossary.terms]]\nen = "CAREC"\nfr = "CAREC"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"glossary\.terms\[0\]\.fr: unknown key"):
        load_config(path)


def test_misheard_must_be_a_list(tmp_path):
    path = tmp_path / "venue.toml"
    path.write_text('[[glossary.terms]]\nen = "CAREC"\nmisheard = "Carrick"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"glossary\.terms\[0\]\.misheard"):
        load_config(path)


def test_glossary_from_a_list_is_usable():
    g = Glossary([GlossaryTerm(en="CAREC", ru="ЦАРЭС")])  # type: ignore[arg-type]
    assert g.terms == (GlossaryTerm(en="CAREC", ru="ЦАРЭС"),)
    assert g.fix("ЦАРЭС", "en") == "CAREC"
