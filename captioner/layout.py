"""Caption layout: committed text into cues and lines, following subtitle conventions.

The rules are the common BBC/Netflix ones: at most ``max_lines`` lines of at most
``max_chars`` characters, lines broken after punctuation rather than after a dangling
function word, roughly balanced lines, cues that end at sentence or clause ends, a
minimum display time and a reading-speed limit. Everything here is pure (stdlib only,
no I/O) so it can be unit-tested exhaustively and shared by the live screens and the
offline SRT/VTT writers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations, pairwise

from captioner.config import CaptionsConfig
from captioner.events import Word

# Gap left between a retimed cue and the next one, so that screens and players show a
# visible change instead of two cues that run into each other.
MIN_GAP_S = 0.04

# A silence this long between two words is as good a cue boundary as a full stop:
# the speaker paused, so a new cue there reads naturally.
PAUSE_BREAK_S = 1.0

_SENTENCE_END = (".", "?", "!", "…")
_CLAUSE_END = (",", ";", ":", "—", "–")
_CLOSERS = "\"'»”’)]"
# Words that read badly as the last word of a line or cue: they belong to what follows.
_FUNCTION_WORDS = frozenset(
    """a an the of to and or but nor in on at by for from with as into onto than that
    if i my your his her its our their this these those
    и в во на с со к ко по о об обо от до из у за для без при под над про через что
    чтобы не ни а но или ли как где когда который которая которые это""".split()
)

# Costs of a line-break choice, in "characters of imbalance": a break after a comma
# is worth a 10-character imbalance, a dangling "the" costs 20 characters.
_SENTENCE_BONUS = 14.0
_CLAUSE_BONUS = 10.0
_DANGLING_COST = 20.0
# A top line longer than the bottom one costs a bit more than the reverse, giving the
# bottom-heavy "pyramid" that readers find easiest.
_TOP_HEAVY_WEIGHT = 1.25


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption on screen: a time span and its (already wrapped) lines.

    ``voice`` names the speaker (a WebVTT voice span), or is None.
    """

    start_s: float
    end_s: float
    lines: tuple[str, ...]
    voice: str | None = None

    @property
    def text(self) -> str:
        """The cue's text on one line (lines joined with a single space)."""
        return " ".join(self.lines)


def max_chars_for(lang: str, cfg: CaptionsConfig) -> int:
    """Line length limit for a language code (``"ru"``, ``"ru-RU"``, ``"en"``...).

    Russian gets its own, shorter limit: Cyrillic words are longer and wider on screen.
    """
    return cfg.max_chars_ru if lang.split("-")[0].lower() == "ru" else cfg.max_chars_en


def _is_sentence_end(token: str) -> bool:
    # Closing quotes/brackets are skipped so that ``said."`` still ends a sentence.
    return token.rstrip(_CLOSERS).endswith(_SENTENCE_END)


def _is_clause_end(token: str) -> bool:
    # A lone hyphen is how Whisper often writes a dash in Russian text.
    return token.rstrip(_CLOSERS).endswith(_CLAUSE_END) or token == "-"


def _is_function_word(token: str) -> bool:
    return token.lower() in _FUNCTION_WORDS


def _break_cost(token: str) -> float:
    """Cost of ending a line (or cue) right after ``token``; negative is attractive."""
    if _is_sentence_end(token):
        return -_SENTENCE_BONUS
    if _is_clause_end(token):
        return -_CLAUSE_BONUS
    if _is_function_word(token):
        return _DANGLING_COST
    return 0.0


def _line_len(words: Sequence[str], lo: int, hi: int) -> int:
    """Length of ``words[lo:hi]`` joined with single spaces."""
    return sum(len(w) for w in words[lo:hi]) + (hi - lo - 1)


def _fits(words: Sequence[str], max_chars: int, max_lines: int) -> bool:
    """Whether the words fit the lines at all: greedy filling uses the fewest lines."""
    lines, width = 1, -1
    for w in words:
        if len(w) > max_chars:
            return False
        if width + 1 + len(w) <= max_chars:
            width += 1 + len(w)
        else:
            lines, width = lines + 1, len(w)
    return lines <= max_lines


def wrap_lines(text: str, max_chars: int, max_lines: int = 2) -> tuple[str, ...] | None:
    """Breaks text into as few lines as possible, choosing the most readable breaks.

    Lines break only at spaces. Among the layouts with the fewest lines, the one chosen
    prefers breaks right after punctuation, avoids a line ending in a dangling function
    word ("the", "of", "и", "на"...), and keeps lines balanced with the bottom line
    slightly longer.

    Args:
        text: Plain text; runs of whitespace count as one space.
        max_chars: Longest allowed line, in characters.
        max_lines: Most lines allowed.

    Returns:
        The lines (``()`` for empty text), or ``None`` when the text cannot fit, e.g. a
        single word longer than ``max_chars``.
    """
    words = text.split()
    if not words:
        return ()
    if any(len(w) > max_chars for w in words):
        return None
    if max_lines < 1:
        return None
    if _line_len(words, 0, len(words)) <= max_chars:
        return (" ".join(words),)
    n = len(words)
    for k in range(2, max_lines + 1):
        best: tuple[float, tuple[int, ...]] | None = None
        # Exhaustive search over break points: cues hold few words (at most about
        # max_chars * max_lines / 2), so this stays small and is easy to reason about.
        for cuts in combinations(range(1, n), k - 1):
            bounds = (0, *cuts, n)
            lens = [_line_len(words, a, b) for a, b in pairwise(bounds)]
            if max(lens) > max_chars:
                continue
            cost = sum(_break_cost(words[c - 1]) for c in cuts)
            for upper, lower in pairwise(lens):
                diff = upper - lower
                cost += diff * _TOP_HEAVY_WEIGHT if diff > 0 else -diff
            if best is None or cost < best[0]:
                best = (cost, bounds)
        if best is not None:
            return tuple(" ".join(words[lo:hi]) for lo, hi in pairwise(best[1]))
    return None


def _choose_end(tokens: list[str], words: Sequence[Word], i: int, j: int, capacity: int) -> int:
    """Picks where the cue starting at ``i`` ends, given that ``words[i:j]`` fits.

    Returns ``k`` (``i < k <= j``) so that the cue is ``words[i:k]``.
    """
    if j == len(tokens):
        return j  # the rest fits in one cue: splitting it would only add a flash cue
    # A sentence end (or a long pause) is the best boundary: the next cue then starts a
    # new thought instead of carrying the tail of this one.
    for k in range(j, i, -1):
        pause = words[k].start_s - words[k - 1].end_s
        if _is_sentence_end(tokens[k - 1]) or pause >= PAUSE_BREAK_S:
            return k
    # A clause end is good too, but only once the cue is reasonably full, or we would
    # make a string of short cues.
    for k in range(j, i, -1):
        if _is_clause_end(tokens[k - 1]) and _line_len(tokens, i, k) > capacity / 2:
            return k
    # Otherwise fill the cue, but do not leave "the" or "и" hanging at its end, unless
    # that would leave the cue less than half full (text made of function words).
    k = j
    while (
        k > i + 1
        and _is_function_word(tokens[k - 1])
        and _line_len(tokens, i, k - 1) > capacity / 2
    ):
        k -= 1
    return k


def cues_from_words(words: Sequence[Word], lang: str, cfg: CaptionsConfig) -> list[Cue]:
    """Groups timed words into cues that fit the layout and timing rules.

    Each cue's text fits :func:`wrap_lines` with the language's line limit and
    ``cfg.max_lines``, and its speech span is at most ``cfg.max_duration_s``. A word
    too long for a line is put in a cue of its own, on one (over-long) line: it is never
    cut, so names, numbers and URLs survive intact. Timing is then fixed by
    :func:`retime`.

    Args:
        words: Words in spoken order; leading/trailing spaces in their text are ignored
            and empty words are skipped.
        lang: Language of the text, which selects the line limit.
        cfg: Caption settings.

    Returns:
        Cues in order, never overlapping; joined with spaces, their texts equal the
        words' stripped texts joined with spaces.
    """
    kept = [w for w in words if w.text.strip()]
    tokens = [w.text.strip() for w in kept]
    max_chars = max_chars_for(lang, cfg)
    capacity = max_chars * cfg.max_lines
    cues: list[Cue] = []
    i = 0
    while i < len(kept):
        # Extend while the text still wraps and the speech still fits the duration;
        # dropping a word never breaks a layout, so stop at the first failure.
        j = i
        while j < len(kept):
            if j > i and kept[j].end_s - kept[i].start_s > cfg.max_duration_s:
                break
            if not _fits(tokens[i : j + 1], max_chars, cfg.max_lines):
                break
            j += 1
        # If even one word does not fit, it goes alone rather than being cut or dropped.
        k = i + 1 if j == i else _choose_end(tokens, kept, i, j, capacity)
        text = " ".join(tokens[i:k])
        lines = wrap_lines(text, max_chars, cfg.max_lines) or (text,)
        start = kept[i].start_s
        end = max(start, max(w.end_s for w in kept[i:k]))
        cues.append(Cue(start, end, lines))
        i = k
    return retime(cues, cfg)


def retime(cues: Sequence[Cue], cfg: CaptionsConfig) -> list[Cue]:
    """Applies the display-time rules to cues, keeping their order and lines.

    Each cue stays up at least ``cfg.min_duration_s`` and long enough to be read at
    ``cfg.max_cps`` characters per second, by moving its end later, but never to within
    ``MIN_GAP_S`` of the next cue's start and never past ``cfg.max_duration_s`` from its
    start. An end is never moved earlier than the speech it covers. A cue that starts
    before the previous one ends is moved to start at that end, so cues never overlap.

    Args:
        cues: Cues in display order.
        cfg: Caption settings.
    """
    out: list[Cue] = []
    for idx, cue in enumerate(cues):
        start = cue.start_s if not out else max(cue.start_s, out[-1].end_s)
        speech_end = max(cue.end_s, start)
        wanted = start + reading_time_s(cue.text, cfg)
        end = max(speech_end, min(wanted, start + cfg.max_duration_s))
        if idx + 1 < len(cues):
            # Extending must not eat into the next cue; the speech itself is kept.
            end = max(speech_end, min(end, cues[idx + 1].start_s - MIN_GAP_S))
        out.append(replace(cue, start_s=start, end_s=end))
    return out


def cues_from_text(
    text: str, start_s: float, end_s: float, lang: str, cfg: CaptionsConfig
) -> list[Cue]:
    """Lays out text that has no word times (e.g. machine translation).

    The span is shared among the words in proportion to their length in characters,
    which approximates speaking time well enough to split long text into cues.

    Args:
        text: Plain text.
        start_s: Start of the span the text covers.
        end_s: End of that span (taken as ``start_s`` if earlier).
        lang: Language of the text.
        cfg: Caption settings.
    """
    tokens = text.split()
    if not tokens:
        return []
    span = max(0.0, end_s - start_s)
    total = sum(len(t) for t in tokens)
    words: list[Word] = []
    done = 0
    for token in tokens:
        t0 = start_s + span * done / total
        done += len(token)
        words.append(Word(token, t0, start_s + span * done / total))
    return cues_from_words(words, lang, cfg)


def reading_time_s(text: str, cfg: CaptionsConfig) -> float:
    """How long a caption or line must stay on screen to be read.

    At least ``cfg.min_duration_s``, and long enough to read its characters at
    ``cfg.max_cps`` (no limit when ``max_cps`` is 0). The live views
    (``web_overlay/lines.js``) use the same rule before a line scrolls off.
    """
    seconds = cfg.min_duration_s
    if cfg.max_cps > 0:
        seconds = max(seconds, len(text) / cfg.max_cps)
    return seconds


def _roll_break(tokens: Sequence[str], incoming: str, width: int) -> int:
    """Where a full roll-up line ends, given the token that no longer fits after it.

    Returns ``k``: the line is ``tokens[:k]``, and ``tokens[k:]`` move down to start
    the next line before ``incoming``. The same preferences as :func:`wrap_lines` and
    cue ends, with only the current line to choose from: a sentence end, else a clause
    end, else the full line without a dangling function word; never a line less than
    half full (a string of short lines reads worse than a less elegant break), and
    never so much carried down that the next line overflows.
    """
    n = len(tokens)

    def acceptable(k: int) -> bool:
        return (_line_len(tokens, 0, k) >= width / 2
                and _line_len([*tokens[k:], incoming], 0, n - k + 1) <= width)

    for is_boundary in (_is_sentence_end, _is_clause_end):
        for k in range(n, 0, -1):
            if _line_len(tokens, 0, k) < width / 2:
                break
            if is_boundary(tokens[k - 1]) and acceptable(k):
                return k
    k = n
    while k > 1 and _is_function_word(tokens[k - 1]) and acceptable(k - 1):
        k -= 1
    return k


def rolling_lines(history: Sequence[str], max_chars: int, max_lines: int) -> tuple[str, ...]:
    """The last lines of a roll-up display of committed caption texts.

    The concatenated texts are filled into lines of at most ``max_chars``; when a word
    no longer fits, the line ends at the best phrase boundary of its second half (see
    :func:`_roll_break`). A line is decided only by the words up to the first one that
    does not fit on it, so appending text only ever changes the last line (and moves
    its tail down to a new one): earlier lines stay put while the display rolls up,
    instead of the whole block reflowing. A word longer than ``max_chars`` is cut into
    pieces, because a roll-up box has a fixed width. The cost is linear in the
    history, so callers keep it bounded.

    ``web_overlay/lines.js`` implements the same function for the live views; both are
    tested against ``tests/layout_cases.json``.

    Args:
        history: Committed caption texts, oldest first.
        max_chars: Line width in characters (at least 1).
        max_lines: How many lines to return.

    Returns:
        At most ``max_lines`` lines, the newest last.
    """
    if max_lines <= 0:
        return ()
    width = max(1, max_chars)
    lines: list[str] = []
    current: list[str] = []
    length = -1  # of " ".join(current)
    for text in history:
        for word in text.split():
            for piece in (word[p : p + width] for p in range(0, len(word), width)):
                if length + 1 + len(piece) <= width:
                    current.append(piece)
                    length += 1 + len(piece)
                    continue
                k = _roll_break(current, piece, width)
                lines.append(" ".join(current[:k]))
                current = [*current[k:], piece]
                length = _line_len(current, 0, len(current))
    if current:
        lines.append(" ".join(current))
    return tuple(lines[-max_lines:])
