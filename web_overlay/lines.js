// The caption line rules of the live views: the JavaScript twin of rolling_lines() and
// reading_time_s() in captioner/layout.py, which stays the reference. Both are tested
// against the same table, tests/layout_cases.json. Pure: no DOM, no clock.

// What the server's [captions] config says unless its hello carries a "layout"
// (docs/protocol.md); the same values as configs/default.toml.
export const DEFAULT_LAYOUT = Object.freeze({
  max_chars: Object.freeze({ en: 42, ru: 39 }),
  max_lines: 2,
  min_duration_s: 1.0,
  max_cps: 17.0,
});

const SENTENCE_END = [".", "?", "!", "…"];
const CLAUSE_END = [",", ";", ":", "—", "–"];
const CLOSERS = "\"'»”’)]";
const FUNCTION_WORDS = new Set(`a an the of to and or but nor in on at by for from with as into onto than that
    if i my your his her its our their this these those
    и в во на с со к ко по о об обо от до из у за для без при под над про через что
    чтобы не ни а но или ли как где когда который которая которые это`.split(/\s+/).filter(Boolean));

/** Length in characters (code points, as Python counts them), not UTF-16 units. */
export function charLength(text) {
  let n = 0;
  for (const _ of text) n += 1;  // eslint-disable-line no-unused-vars
  return n;
}

function stripClosers(token) {
  let end = token.length;
  while (end > 0 && CLOSERS.includes(token[end - 1])) end -= 1;
  return token.slice(0, end);
}

function isSentenceEnd(token) {
  const t = stripClosers(token);
  return SENTENCE_END.some((p) => t.endsWith(p));
}

function isClauseEnd(token) {
  const t = stripClosers(token);
  return CLAUSE_END.some((p) => t.endsWith(p)) || token === "-";
}

function isFunctionWord(token) {
  return FUNCTION_WORDS.has(token.toLowerCase());
}

function lineLen(lengths, lo, hi) {
  let n = hi - lo - 1;
  for (let i = lo; i < hi; i += 1) n += lengths[i];
  return n;
}

/** See _roll_break() in captioner/layout.py: where a full line ends. */
function rollBreak(tokens, lengths, incomingLen, width) {
  const n = tokens.length;
  const acceptable = (k) => {
    if (lineLen(lengths, 0, k) < width / 2) return false;
    let carried = n - k + incomingLen;  // the spaces, and the word that did not fit
    for (let i = k; i < n; i += 1) carried += lengths[i];
    return carried <= width;
  };
  for (const isBoundary of [isSentenceEnd, isClauseEnd]) {
    for (let k = n; k > 0; k -= 1) {
      if (lineLen(lengths, 0, k) < width / 2) break;
      if (isBoundary(tokens[k - 1]) && acceptable(k)) return k;
    }
  }
  let k = n;
  while (k > 1 && isFunctionWord(tokens[k - 1]) && acceptable(k - 1)) k -= 1;
  return k;
}

/** Words of a text, as Python's str.split() finds them. */
export function words(text) {
  return text.split(/\s+/).filter(Boolean);
}

/**
 * The lines of a roll-up display of caption texts (see rolling_lines() in layout.py).
 *
 * Lines hold at most maxChars characters and break at the best phrase boundary of
 * their second half. Appending text only changes the last line, so earlier lines stay
 * put while the display rolls up. A word longer than a line is cut into pieces.
 *
 * @param {string[]} history texts, oldest first
 * @param {number} maxChars line width in characters
 * @param {number} maxLines how many lines to return (the newest)
 * @returns {string[]}
 */
export function rollingLines(history, maxChars, maxLines) {
  if (maxLines <= 0) return [];
  const width = Math.max(1, maxChars);
  const lines = [];
  let current = [];
  let lengths = [];
  let length = -1;
  for (const text of history) {
    for (const word of words(text)) {
      const chars = Array.from(word);
      for (let p = 0; p < chars.length; p += width) {
        const piece = chars.slice(p, p + width).join("");
        const pieceLen = Math.min(width, chars.length - p);
        if (length + 1 + pieceLen <= width) {
          current.push(piece);
          lengths.push(pieceLen);
          length += 1 + pieceLen;
          continue;
        }
        const k = rollBreak(current, lengths, pieceLen, width);
        lines.push(current.slice(0, k).join(" "));
        current = [...current.slice(k), piece];
        lengths = [...lengths.slice(k), pieceLen];
        length = lineLen(lengths, 0, lengths.length);
      }
    }
  }
  if (current.length) lines.push(current.join(" "));
  return lines.slice(-maxLines);
}

/** Seconds a line must stay on screen to be read (reading_time_s() in layout.py). */
export function readingTimeS(text, layout = DEFAULT_LAYOUT) {
  let seconds = layout.min_duration_s;
  if (layout.max_cps > 0) seconds = Math.max(seconds, charLength(text) / layout.max_cps);
  return seconds;
}

/** Line length limit for a language code ("ru", "ru-RU", "en"...). */
export function maxCharsFor(lang, layout = DEFAULT_LAYOUT) {
  const base = String(lang || "").split("-")[0].toLowerCase();
  const table = layout.max_chars || DEFAULT_LAYOUT.max_chars;
  return table[base] ?? table.en ?? DEFAULT_LAYOUT.max_chars.en;
}

/** The layout a hello message announces, checked, over the defaults. */
export function layoutFrom(hello) {
  const got = hello && typeof hello.layout === "object" && hello.layout ? hello.layout : {};
  const num = (v, fallback, min) => (typeof v === "number" && Number.isFinite(v) && v >= min ? v : fallback);
  const chars = { ...DEFAULT_LAYOUT.max_chars };
  if (got.max_chars && typeof got.max_chars === "object") {
    for (const [lang, n] of Object.entries(got.max_chars)) {
      if (Number.isInteger(n) && n >= 8) chars[lang] = n;
    }
  }
  return {
    max_chars: chars,
    max_lines: num(got.max_lines, DEFAULT_LAYOUT.max_lines, 1),
    min_duration_s: num(got.min_duration_s, DEFAULT_LAYOUT.min_duration_s, 0),
    max_cps: num(got.max_cps, DEFAULT_LAYOUT.max_cps, 0),
  };
}
