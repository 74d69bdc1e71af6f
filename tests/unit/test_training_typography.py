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


def test_list_and_code_marks_say_only_what_the_charset_can_and_keep_the_line():
    from training.typography import list_and_code_marks

    charset = Charset.load("models/charset_mix.txt")
    rng = random.Random(1)
    line = "在接下来的请求之前 暂存文件"
    outputs = [list_and_code_marks(line, rng) for _ in range(400)]
    assert sum(o.startswith(("–", "- ", "—")) for o in outputs) > 100  # dash list markers, often
    assert any("~" in o for o in outputs) and any("{" in o for o in outputs)
    for out in outputs:
        assert charset.normalize(out) == out  # nothing the recognizer cannot say
        # the line's words survive, unless the sample is a code token on its own
        assert line.split()[0] in out or " " not in out.strip()
