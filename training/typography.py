"""What typesetting does to plain text: curly quotes, bullets, dashes, guillemets, signs.

The corpora are mostly plain ASCII, but typeset documents (the PDFs our users
scan) print ” for ", – for -, • before list items and «…» around placeholders;
DocBook renders even an opening quote as ”. A recognizer that never saw these
glyphs drops them or reads them as the nearest ASCII. ``typeset`` rewrites a
sampled line the way a typesetter might, so the glyph and its label agree.
"""

from __future__ import annotations

import random
import re

QUOTES = {'"': ('"', "“", "”", "”"), "'": ("'", "‘", "’", "’")}
BULLETS = ("• ", "•", "· ")
SIGNS = (
    lambda r: f"{r.randint(-30, 45)}°C",
    lambda r: f"{r.randint(0, 359)}°",
    lambda r: f"{r.randint(2, 99)}×{r.randint(2, 99)}",
    lambda r: f"±{r.randint(1, 20)}.{r.randint(0, 9)}",
    lambda r: f"€{r.randint(1, 999)}.{r.randint(0, 99):02d}",
    lambda r: f"£{r.randint(1, 999)}",
    lambda r: f"§{r.randint(1, 40)}.{r.randint(1, 9)}",
    lambda r: f"{r.randint(1, 99)}–{r.randint(100, 999)}",
)


def _quotes(text: str, rng: random.Random) -> str:
    return "".join(rng.choice(QUOTES[ch]) if ch in QUOTES else ch for ch in text)


def _dashes(text: str, rng: random.Random) -> str:
    return re.sub(r"(?<=\w) ?-{1,2} ?(?=\w)", lambda m: rng.choice(("–", " – ", m.group(0))), text)


def _wrap_word(text: str, rng: random.Random) -> str:
    """One word in quotes or guillemets, as docs mark file names and placeholders."""
    left, right = rng.choice((("«", "»"), ("”", "”"), ("“", "”"), ('"', '"'), ("‘", "’"), ("’", "’")))
    words = text.split(" ")
    k = rng.randrange(len(words))
    words[k] = f"{left}{words[k]}{right}"
    return " ".join(words)


def _sign(text: str, rng: random.Random) -> str:
    sign = rng.choice(SIGNS)(rng)
    return f"{text} {sign}" if rng.random() < 0.5 else f"{sign} {text}"


# Nested list items in DocBook/dblatex output (Debian's manuals, most LaTeX) are marked with an
# en dash, often before Chinese text, where it sits beside 一 and reads as it; code samples print
# ~ (aptitude's ~i, ~/.config), braces and brackets, control keys (^A, Ctrl-\\), hexadecimal (0x4001e000,
# which reads as 0× once × is a class) and snake_case names that prose corpora almost never have.
DASH_BULLETS = ("– ", "–", "- ", "— ")
CODE_TOKENS = (
    lambda r: "~" + r.choice("abcdefgimnoprstuvABDEFGMNOPRSTUV"),
    lambda r: "~" + r.choice("ARDi") + "~" + r.choice("ig"),
    lambda r: "~/." + r.choice(("config", "bashrc", "gitconfig", "ssh", "local/bin", "profile", "vimrc")),
    lambda r: (
        "{"
        + ",".join(r.sample(("debian", "main", "contrib", "sid", "bookworm", "extra", "hold", "keep", "1", "2"), r.randint(1, 3)))
        + "}"
    ),
    lambda r: "${" + r.choice(("HOME", "PATH", "1", "USER", "LANG")) + "}",
    lambda r: "[" + r.choice(("-v", "options", "file", "0-9", "a-z", "--help")) + "]",
    lambda r: "".join("^" + r.choice("ACDEGHKLQRSUWXZ[\\") for _ in range(r.randint(1, 2))),
    lambda r: r.choice(("Ctrl-", "C-", "M-")) + r.choice("acdxzACX\\"),
    lambda r: "0x" + "".join(r.choice("0123456789abcdef") for _ in range(r.choice((2, 4, 8)))),
    lambda r: (
        "_".join(r.sample(("malloc", "check", "program", "binary", "task", "path", "lib", "KEY", "PATH", "LD"), r.randint(2, 3)))
        + r.choice(("", "_"))
    ),
)


def list_and_code_marks(text: str, rng: random.Random) -> str:
    """A dash list marker before ``text``, or a code token (tilde, braces, brackets) in it."""
    if rng.random() < 0.5:
        return rng.choice(DASH_BULLETS) + text
    token = rng.choice(CODE_TOKENS)(rng)
    words = text.split(" ")
    words.insert(rng.randrange(len(words) + 1), token)
    return " ".join(words) if rng.random() < 0.7 else token


def typeset(text: str, rng: random.Random) -> str:
    """``text`` with some typographic forms; most lines come back unchanged."""
    if not text:
        return text
    if rng.random() < 0.3:
        text = _quotes(text, rng)
    if rng.random() < 0.06:
        text = rng.choice(BULLETS) + text
    if rng.random() < 0.1:
        text = _dashes(text, rng)
    if rng.random() < 0.06:
        text = _wrap_word(text, rng)
    if rng.random() < 0.03:
        text = _sign(text, rng)
    if rng.random() < 0.02:
        text = "~" + text if rng.random() < 0.5 else text.replace("/", "~/", 1)
    return text
