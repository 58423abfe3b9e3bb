"""Build ``site/static/font/weblab-icons.woff2``: a tiny real WOFF2 icon font.

A development tool, not run by the lab (the .woff2 is committed):
``pip install fonttools==4.68.0 brotli==1.2.1 && python -m services.web.make_font``.
Two glyphs drawn as polygons: U+25CF (a dot, octagon) and U+2192 (an arrow), so the
page's CSS @font-face and the font request in the capture are real (WOFF2 is
W3C WOFF 2.0; its tables are Brotli-compressed, RFC 7932).
"""

from __future__ import annotations

import math
from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

OUT = Path(__file__).parent / "site" / "static" / "font" / "weblab-icons.woff2"
EM = 1000


def _polygon(points: list[tuple[float, float]]) -> object:
    pen = TTGlyphPen(None)
    pen.moveTo(points[0])
    for point in points[1:]:
        pen.lineTo(point)
    pen.closePath()
    return pen.glyph()


def build(out: Path = OUT) -> None:
    dot = [
        (500 + 300 * math.cos(a), 350 + 300 * math.sin(a))
        for a in (-(i * math.pi / 4) for i in range(8))
    ]  # clockwise: TrueType outer contour
    arrow = [(100, 300), (100, 400), (600, 400), (600, 550), (900, 350), (600, 150), (600, 300)]
    empty = TTGlyphPen(None).glyph()
    fb = FontBuilder(EM, isTTF=True)
    fb.setupGlyphOrder([".notdef", "space", "dot", "arrow"])
    fb.setupCharacterMap({0x20: "space", 0x25CF: "dot", 0x2192: "arrow"})
    fb.setupGlyf(
        {
            ".notdef": empty,
            "space": empty,
            "dot": _polygon(dot),
            "arrow": _polygon(list(reversed(arrow))),
        }
    )
    fb.setupHorizontalMetrics(dict.fromkeys((".notdef", "space", "dot", "arrow"), (EM, 0)))
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "weblab icons", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=800, usWinAscent=800, usWinDescent=200)
    fb.setupPost()
    fb.font.flavor = "woff2"
    out.parent.mkdir(parents=True, exist_ok=True)
    fb.save(str(out))


if __name__ == "__main__":
    build()
