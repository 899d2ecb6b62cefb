"""The description sanitiser against hostile HTML, and the plain-text reduction."""

from __future__ import annotations

import re

import pytest

from civkit.html_text import safe_url, sanitize_html, to_plain_text

HOSTILE = [
    '<script>alert(1)</script>',
    '<SCRIPT SRC=//evil.example/x.js></SCRIPT>',
    '<img src=x onerror=alert(1)>',
    '<img src="javascript:alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    '<a href=" JaVa\tScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<a href="vbscript:msgbox(1)">click</a>',
    '<p onclick="alert(1)" onmouseover=alert(1)>text</p>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<svg onload=alert(1)><script>alert(1)</script></svg>',
    '<math><mtext><script>alert(1)</script></mtext></math>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<style>body{display:none}</style>',
    '<scr<script>ipt>alert(1)</script>',
    '<!--<script>alert(1)</script>-->',
    '<![CDATA[<script>alert(1)</script>]]>',
    '<form action="https://evil.example"><input name=x><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    '<p id="civkit_api_key" class="x">clobber</p>',
    '<template><script>alert(1)</script></template>',
    '<a href="https://ok.example/" onclick="alert(1)">ok</a>',
    '"><script>alert(1)</script>',
    '<textarea><script>alert(1)</script></textarea>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_markup_comes_out_inert(hostile):
    out = sanitize_html(hostile)
    lowered = out.lower()
    assert "<script" not in lowered
    assert "javascript:" not in lowered.replace("&", "")
    assert "vbscript:" not in lowered and "data:" not in lowered
    assert not re.search(r"<[^>]*\son\w+\s*=", lowered), out  # no event handler attribute on any tag
    assert "style=" not in lowered and " id=" not in lowered and " class=" not in lowered
    for tag in ("iframe", "object", "embed", "svg", "math", "form", "input", "meta", "base", "link", "style",
                "img", "template", "textarea", "button"):
        assert f"<{tag}" not in lowered, out
    # Whatever is left parses as text or whitelisted tags only.
    assert all(t in {"a", "p", "div", "b", "/a", "/p", "/div", "/b"} for t in re.findall(r"<(/?\w+)", out)), out


def test_whitelisted_markup_survives_and_links_are_hardened():
    html = ('<h2>Usage</h2><p>Use <b>weight</b> <em>0.7</em> &amp; <code>animelineart</code>.</p>'
            '<ul><li>one<li>two</ul><a href="https://civitai.com/models/1?a=1&b=2" title="t">page</a>')
    out = sanitize_html(html)
    assert out.startswith("<h2>Usage</h2><p>Use <b>weight</b> <em>0.7</em> &amp; <code>animelineart</code>.</p>")
    assert "<ul><li>one</li><li>two</li></ul>" in out
    assert ('<a href="https://civitai.com/models/1?a=1&amp;b=2" title="t" '
            'rel="noopener noreferrer nofollow" target="_blank">page</a>') in out


def test_unbalanced_markup_is_closed_and_stray_end_tags_dropped():
    assert sanitize_html("<div><p>open <i>italic") == "<div><p>open <i>italic</i></p></div>"
    assert sanitize_html("text</b></div>more") == "textmore"
    assert sanitize_html("<b><i>x</b>y</i>") == "<b><i>x</i></b>y"


def test_text_is_escaped_not_interpreted():
    assert sanitize_html("1 < 2 &lt;script&gt;") == "1 &lt; 2 &lt;script&gt;"
    assert sanitize_html(None) == "" and sanitize_html("") == ""


def test_images_only_when_asked_and_only_http():
    html = '<img src="https://image.civitai.com/x.jpeg" onerror="alert(1)" width="64" height="9e9"><img src="/local.png">'
    assert sanitize_html(html) == ""
    out = sanitize_html(html, allow_images=True)
    assert out == '<img src="https://image.civitai.com/x.jpeg" width="64">'


def test_safe_url():
    assert safe_url("https://civitai.com/x") == "https://civitai.com/x"
    assert safe_url("mailto:a@b.c") == "mailto:a@b.c"
    assert safe_url("mailto:a@b.c", images=True) is None
    for bad in ("javascript:alert(1)", "java\nscript:x", " \x01javascript:x", "/relative", "//evil.example", "", None):
        assert safe_url(bad) is None


def test_plain_text():
    html = ("<h1>Title</h1><p>First&nbsp;para with <b>bold</b>.</p><script>alert(1)</script>"
            "<style>p{}</style><ul><li>one</li><li>two</li></ul><p>a<br>b</p>")
    assert to_plain_text(html) == "Title\n\nFirst para with bold.\n\n- one\n- two\n\na\nb"
    assert to_plain_text(None) == ""
    assert to_plain_text("&lt;b&gt; is a tag") == "<b> is a tag"
