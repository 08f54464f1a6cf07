"""Text from a URL, a file or the typed objective is shown as text (ui.text.plain):
markdown specials are backslash-escaped (no link, image, emphasis, maths or colour),
line breaks flattened, long text cut with its full length stated."""
from __future__ import annotations

import string

from tests.test_app import new_app
from tests.test_app_export import upload
from ui.state import defaults
from ui.text import LINE_LIMIT, plain
from ui.views.compare import words

PHISH = "[Session expired - click to log in](https://example.com/phish)"
IMAGE = "![t](https://example.com/pixel.png)"
LIVE = set("[]()!<>`*_$|~#")        # what could make a link, an image, HTML, code, emphasis, maths or a table


def unescaped(markdown: str, chars=frozenset(string.punctuation)) -> list[str]:
    """The characters of ``chars`` in ``markdown`` that no backslash escapes (CommonMark:
    a backslash before ASCII punctuation shows it literally)."""
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown) and markdown[i + 1] in string.punctuation:
            i += 2
            continue
        if markdown[i] in chars:
            out.append(markdown[i])
        i += 1
    return out


def test_plain_escapes_every_special_and_cuts_long_text():
    for text in (PHISH, IMAGE, "$x^2$ :red[hi] <b>b</b> `c` *e* _u_ # h | t ~ www.example.com", "a\\[b"):
        shown = plain(text, 500)
        assert unescaped(shown) == []
        assert shown.replace("\\", "") == text.replace("\\", "")   # nothing but the escapes added
    assert plain("a\nb\r\tc") == "a b  c"
    long = plain("x" * 70000)
    assert long.startswith("x" * 80 + "…") and "70000 characters" in long and len(long) < 120
    assert plain("x" * 80) == "x" * 80


def test_a_phishing_url_value_is_shown_as_text():
    at = new_app({"lr": PHISH, "expr": IMAGE, "toy": "custom"}).run()
    messages = [m.value for m in (*at.warning, *at.error, *at.sidebar.error)]
    assert any("https\\:\\/\\/example\\.com\\/phish" in m for m in messages), messages
    assert any("This objective cannot be used" in m for m in messages), messages
    for message in messages:
        assert unescaped(message, LIVE) == [], message


def test_a_huge_url_value_is_cut():
    at = new_app({"lr": "9" * 70000}).run()
    text = at.warning[0].value
    assert len(text) < LINE_LIMIT + 300 and "characters\\)" in text


def test_the_typed_objective_is_escaped_where_markdown_shows_it():
    shown = words({**defaults("custom"), "toy": "custom", "expr": "x*y + x*y^2"})["toy"]   # *y + x* is emphasis
    assert shown.startswith("L = ") and unescaped(shown[4:]) == []


def test_an_uploaded_file_name_is_shown_as_text():
    at = upload(new_app().run(), "[Open the file](https://example.com/phish).json", bytes(range(128, 256)))
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "not UTF\\-8 text" in errors[0] and "https\\:\\/\\/example" in errors[0], errors
    name = errors[0].split("not loaded: ")[1].split("\\: not UTF")[0]
    assert unescaped(name) == [], errors     # the name, all escaped
