"""Typeset lines keep their words and only gain forms the mixed charset can say."""

import random

from pipeline.charset import TYPOGRAPHY, Charset
from training.typography import typeset

PLAIN = 'see "/etc/fstab" and the man-page, it\'s 3-4 lines'


def test_typeset_only_adds_typographic_forms():
    rng = random.Random(0)
    outputs = [typeset(PLAIN, rng) for _ in range(2000)]
    assert sum(o != PLAIN for o in outputs) > 200  # it does something, often
    forms = set("".join(outputs)) - set(PLAIN)
    assert forms <= set(TYPOGRAPHY) | set("“”‘’·~ 0123456789.C")
    assert {"”", "’", "•", "–"} <= forms
    for out in outputs:
        # every word of the plain line survives, perhaps wrapped in quotes or dashes
        assert "fstab" in out and "lines" in out


def test_typeset_is_reproducible_and_keeps_empty_lines():
    assert [typeset(PLAIN, random.Random(5)) for _ in range(3)] == [typeset(PLAIN, random.Random(5))] * 3
    assert typeset("", random.Random(1)) == ""


def test_the_mixed_charset_can_say_every_typographic_form():
    from core.settings import REPO_ROOT

    charset = Charset.load(REPO_ROOT / "models" / "charset_mix.txt")
    assert all(ch in charset.index for ch in TYPOGRAPHY + "“”‘’")
