"""Civitai descriptions are creator-written HTML: make them safe to show, or plain text.

``sanitize_html`` rebuilds the document from parsed tokens, so nothing the parser did not
understand survives as markup: only whitelisted tags are re-emitted (with a handful of checked
attributes), everything else is either dropped with its content (scripts, styles, frames, SVG,
forms) or reduced to its escaped text. Links keep only ``http``, ``https`` and ``mailto`` targets
and open in a new tab without a referrer. Images are dropped unless asked for, because description
images are not rated and could not be blurred like previews.

``to_plain_text`` gives the readable text (paragraphs and list items on their own lines).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Optional

# Tags re-emitted as they are (without attributes, except those listed in _ALLOWED_ATTRS).
ALLOWED_TAGS = frozenset(
    {
        "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "ins", "li", "ol", "p", "pre", "s", "small", "span", "strike", "strong", "sub",
        "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
    }
)
_VOID_TAGS = frozenset({"br", "hr", "img"})
# Tags whose whole content is dropped, not only the tag.
_DROP_CONTENT = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "applet", "noscript", "template", "svg",
        "math", "title", "head", "textarea", "select", "option", "frame", "frameset", "noembed",
        "noframes", "xmp", "plaintext", "audio", "video", "canvas", "form", "button",
    }
)
_ALLOWED_ATTRS = {"a": ("href", "title"), "img": ("src", "alt", "title", "width", "height"),
                  "td": ("colspan", "rowspan"), "th": ("colspan", "rowspan")}
_SELF_ENDING = frozenset({"li", "p", "td", "th", "tr"})
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f-\x9f]+")
_NUMBER_RE = re.compile(r"^\d{1,4}$")

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "hr", "li", "ul", "ol", "blockquote", "pre", "table", "tr",
     "h1", "h2", "h3", "h4", "h5", "h6"}
)


def safe_url(value: Optional[str], *, images: bool = False) -> Optional[str]:
    """The URL if it is an absolute http(s) (or, for links, mailto) URL, else None."""
    if not value:
        return None
    # Browsers ignore whitespace and control characters inside a scheme ("java\tscript:"),
    # so judge the URL with them removed.
    squeezed = _CONTROL_RE.sub("", value).lower()
    schemes = ("http://", "https://") if images else _SAFE_SCHEMES
    if not squeezed.startswith(schemes):
        return None
    stripped = value.strip()
    if _CONTROL_RE.search(stripped.replace(" ", "")):
        return None
    return stripped


class _Sanitizer(HTMLParser):
    def __init__(self, allow_images: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.allow_images = allow_images
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip_depth = 0

    # -- tokens -------------------------------------------------------------------------------
    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, self_closing=True)

    def _start(self, tag: str, attrs, self_closing: bool) -> None:
        tag = tag.lower()
        if tag in _DROP_CONTENT:
            if not self_closing:
                self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "img" and not self.allow_images:
            return
        if tag not in ALLOWED_TAGS and tag != "img":
            return
        rendered = self._attrs(tag, attrs)
        if rendered is None:
            return
        if tag in _SELF_ENDING and self.open and self.open[-1] == tag:
            # "<li>one<li>two": the second item ends the first, as browsers read it
            self.out.append(f"</{self.open.pop()}>")
        self.out.append(f"<{tag}{rendered}>")
        if tag not in _VOID_TAGS and not self_closing:
            self.open.append(tag)
        elif tag not in _VOID_TAGS:  # "<p/>" is not a void element: close it at once
            self.out.append(f"</{tag}>")

    def handle_endtag(self, tag):
        tag = tag.lower()
        if tag in _DROP_CONTENT:
            if self.skip_depth:
                self.skip_depth -= 1
            return
        if self.skip_depth or tag not in self.open:
            return
        # Close everything opened after this tag too, so the output is always well nested.
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data):
        if not self.skip_depth:
            self.out.append(html.escape(data, quote=False))

    # Comments, doctypes, processing instructions and CDATA sections are dropped.
    def handle_comment(self, data):
        return None

    def handle_decl(self, decl):
        return None

    def handle_pi(self, data):
        return None

    def unknown_decl(self, data):
        return None

    # -- attributes ---------------------------------------------------------------------------
    def _attrs(self, tag: str, attrs) -> Optional[str]:
        allowed = _ALLOWED_ATTRS.get(tag, ())
        parts: list[str] = []
        for name, value in attrs:
            name = (name or "").lower()
            if name not in allowed or value is None:
                continue
            if name in ("href", "src"):
                value = safe_url(value, images=(name == "src"))
                if value is None:
                    continue
            elif name in ("width", "height", "colspan", "rowspan"):
                if not _NUMBER_RE.match(value.strip()):
                    continue
                value = value.strip()
            parts.append(f' {name}="{html.escape(value, quote=True)}"')
        if tag == "img" and not any(p.startswith(" src=") for p in parts):
            return None  # an image without a safe source is nothing
        if tag == "a" and any(p.startswith(" href=") for p in parts):
            parts.append(' rel="noopener noreferrer nofollow" target="_blank"')
        return "".join(parts)

    def result(self) -> str:
        self.close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out).strip()


def sanitize_html(text: Optional[str], *, allow_images: bool = False) -> str:
    """Creator HTML reduced to a small safe subset; "" for None."""
    if not text:
        return ""
    parser = _Sanitizer(allow_images)
    parser.feed(str(text))
    return parser.result()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag, attrs):
        tag = tag.lower()
        if tag in _DROP_CONTENT:
            self.skip_depth += 1
        elif not self.skip_depth and tag in _BLOCK_TAGS:
            self.parts.append("\n- " if tag == "li" else "\n")

    def handle_startendtag(self, tag, attrs):
        if not self.skip_depth and tag.lower() in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        tag = tag.lower()
        if tag in _DROP_CONTENT:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif not self.skip_depth and tag in _BLOCK_TAGS and tag != "li":  # the next item starts a line
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(data)


def to_plain_text(text: Optional[str]) -> str:
    """The readable text of creator HTML: tags and scripts gone, one block per line."""
    if not text:
        return ""
    parser = _TextExtractor()
    parser.feed(str(text))
    parser.close()
    raw = "".join(parser.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in raw.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
