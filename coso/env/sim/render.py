"""Draws a ``Screen`` (the element tree) into an RGB screenshot with Pillow.

Speed comes from caching what repeats: fonts per pixel size, and rasterised text masks per (text, size)
in a process-wide LRU table, so a screen is mostly rectangles and mask pastes. Only Pillow's bundled
default font is used (``ImageFont.load_default``), so nothing depends on system font files.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

from coso.env.sim.ui import DESIGN_WIDTH, Element, Rect, Screen

MAX_CACHED_TEXTS = 20000
ELLIPSIS = "\u2026"


class _TextCache:
    """Fonts per pixel size, glyph masks per (character, size), and text masks per (text, size).

    A new string is composed from cached glyphs (a few microseconds per character) instead of being laid
    out by FreeType; strings and glyphs are kept in least-recently-used tables.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.lock = threading.Lock()  # environment pools render from several threads
        self.fonts: dict[int, ImageFont.FreeTypeFont] = {}
        self.glyphs: dict[tuple[str, int], tuple[Image.Image, tuple[int, int], float]] = {}
        self.masks: OrderedDict[tuple[str, int], tuple[Image.Image, tuple[int, int], int]] = OrderedDict()
        self.fits: OrderedDict[tuple[str, int, int], str] = OrderedDict()

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        """The default font at ``size`` pixels (a FreeType font: the glyph cache needs its ``getmask2``)."""
        font = self.fonts.get(size)
        if font is None:
            loaded = ImageFont.load_default(size=size)
            if not isinstance(loaded, ImageFont.FreeTypeFont):
                raise RuntimeError("the simulator's renderer needs Pillow built with FreeType (pip install pillow)")
            font = loaded
            self.fonts[size] = font
        return font

    def glyph(self, char: str, size: int) -> tuple[Image.Image, tuple[int, int], float]:
        """(mask, offset from the pen position at the ascender line, advance) of one character."""
        key = (char, size)
        cached = self.glyphs.get(key)
        if cached is None:
            font = self.font(size)
            core, offset = font.getmask2(char, mode="L", anchor="la")
            mask = Image.new("L", core.size)
            if core.size[0] and core.size[1]:
                mask.im = core
            advance = float(font.getlength(char))
            if char == " ":
                advance = max(advance, 0.3 * size)  # the bundled font's space is very narrow
            cached = (mask, (int(offset[0]), int(offset[1])), advance)
            if len(self.glyphs) > self.capacity:
                self.glyphs.clear()
            self.glyphs[key] = cached
        return cached

    def advance(self, text: str, size: int) -> float:
        """The width of ``text`` in pixels (sum of its glyphs' advances)."""
        return sum(self.glyph(char, size)[2] for char in text)

    def mask(self, text: str, size: int) -> tuple[Image.Image, tuple[int, int], int]:
        """(mask, offset from the line's top-left, advance width) of ``text`` at ``size`` pixels."""
        key = (text, size)
        with self.lock:
            cached = self.masks.get(key)
            if cached is not None:
                self.masks.move_to_end(key)
                return cached
        glyphs = [self.glyph(char, size) for char in text]
        margin = size // 2  # room for glyphs that reach left of the pen or right of their advance
        width = int(sum(g[2] for g in glyphs)) + 2 * margin
        height = int(size * 1.4) + 2
        canvas = Image.new("L", (max(1, width), height), 0)
        pen = float(margin)
        for mask, (dx, dy), advance in glyphs:
            mw, mh = mask.size
            x, y = int(round(pen)) + dx, dy
            if mw and mh and x >= 0 and y >= 0 and x + mw <= width and y + mh <= height:
                canvas.im.paste(255, (x, y, x + mw, y + mh), mask.im)
            pen += advance
        entry = (canvas, (-margin, 0), int(round(pen - margin)))
        with self.lock:
            self.masks[key] = entry
            if len(self.masks) > self.capacity:
                self.masks.popitem(last=False)
        return entry

    def fit(self, text: str, size: int, width: int) -> str:
        """``text``, shortened with an ellipsis so that it is at most ``width`` pixels wide."""
        if self.advance(text, size) <= width:
            return text
        key = (text, size, width)
        with self.lock:
            cached = self.fits.get(key)
        if cached is not None:
            return cached
        budget = width - self.glyph(ELLIPSIS, size)[2]
        used, cut = 0.0, 0
        for char in text:
            step = self.glyph(char, size)[2]
            if used + step > budget:
                break
            used += step
            cut += 1
        fitted = text[:cut].rstrip() + ELLIPSIS if cut else ""
        with self.lock:
            self.fits[key] = fitted
            if len(self.fits) > self.capacity:
                self.fits.popitem(last=False)
        return fitted


TEXT_CACHE = _TextCache(MAX_CACHED_TEXTS)

GlyphPainter = Callable[[ImageDraw.ImageDraw, tuple[float, float, float, float], tuple[int, int, int], float], None]
GLYPHS: dict[str, GlyphPainter] = {}


def glyph(name: str) -> Callable[[GlyphPainter], GlyphPainter]:
    """Register a vector icon painter (the bundled font has no symbol glyphs)."""

    def register(painter: GlyphPainter) -> GlyphPainter:
        GLYPHS[name] = painter
        return painter

    return register


def _square(box: tuple[float, float, float, float], fraction: float) -> tuple[float, float, float]:
    x0, y0, x1, y1 = box
    side = min(x1 - x0, y1 - y0) * fraction
    return (x0 + x1) / 2, (y0 + y1) / 2, side / 2


@glyph("back")
def _back(draw, box, color, scale):
    cx, cy, r = _square(box, 0.45)
    draw.polygon([(cx - r, cy), (cx + r * 0.8, cy - r), (cx + r * 0.8, cy + r)], outline=color)


@glyph("arrow_left")
def _arrow_left(draw, box, color, scale):
    cx, cy, r = _square(box, 0.5)
    width = max(1, round(1.5 * scale))
    draw.line([(cx - r, cy), (cx + r, cy)], fill=color, width=width)
    draw.line([(cx - r, cy), (cx - r * 0.3, cy - r * 0.6)], fill=color, width=width)
    draw.line([(cx - r, cy), (cx - r * 0.3, cy + r * 0.6)], fill=color, width=width)


@glyph("home")
def _home(draw, box, color, scale):
    cx, cy, r = _square(box, 0.45)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=color, width=max(1, round(scale)))


@glyph("recents")
def _recents(draw, box, color, scale):
    cx, cy, r = _square(box, 0.4)
    draw.rectangle([cx - r, cy - r, cx + r, cy + r], outline=color, width=max(1, round(scale)))


@glyph("menu")
def _menu(draw, box, color, scale):
    cx, cy, r = _square(box, 0.5)
    dot = max(1.0, 1.4 * scale)
    for dy in (-r * 0.7, 0.0, r * 0.7):
        draw.ellipse([cx - dot, cy + dy - dot, cx + dot, cy + dy + dot], fill=color)


@glyph("hamburger")
def _hamburger(draw, box, color, scale):
    cx, cy, r = _square(box, 0.55)
    for dy in (-r * 0.6, 0.0, r * 0.6):
        draw.line([(cx - r, cy + dy), (cx + r, cy + dy)], fill=color, width=max(1, round(1.3 * scale)))


@glyph("close")
def _close(draw, box, color, scale):
    cx, cy, r = _square(box, 0.45)
    width = max(1, round(1.5 * scale))
    draw.line([(cx - r, cy - r), (cx + r, cy + r)], fill=color, width=width)
    draw.line([(cx - r, cy + r), (cx + r, cy - r)], fill=color, width=width)


@glyph("search")
def _search(draw, box, color, scale):
    cx, cy, r = _square(box, 0.5)
    width = max(1, round(1.5 * scale))
    draw.ellipse([cx - r, cy - r, cx + r * 0.4, cy + r * 0.4], outline=color, width=width)
    draw.line([(cx + r * 0.25, cy + r * 0.25), (cx + r, cy + r)], fill=color, width=width)


@glyph("play")
def _play(draw, box, color, scale):
    cx, cy, r = _square(box, 0.5)
    draw.polygon([(cx - r * 0.6, cy - r), (cx + r, cy), (cx - r * 0.6, cy + r)], fill=color)


@glyph("pause")
def _pause(draw, box, color, scale):
    cx, cy, r = _square(box, 0.5)
    bar = r * 0.35
    draw.rectangle([cx - r * 0.7, cy - r, cx - r * 0.7 + bar, cy + r], fill=color)
    draw.rectangle([cx + r * 0.7 - bar, cy - r, cx + r * 0.7, cy + r], fill=color)


@glyph("plus")
def _plus(draw, box, color, scale):
    cx, cy, r = _square(box, 0.5)
    width = max(1, round(2 * scale))
    draw.line([(cx - r, cy), (cx + r, cy)], fill=color, width=width)
    draw.line([(cx, cy - r), (cx, cy + r)], fill=color, width=width)


@glyph("switch_on")
def _switch_on(draw, box, color, scale):
    x0, y0, x1, y1 = box
    h = y1 - y0
    draw.rounded_rectangle(box, radius=h / 2, fill=color)
    draw.ellipse([x1 - h + 2 * scale, y0 + 2 * scale, x1 - 2 * scale, y1 - 2 * scale], fill=(255, 255, 255))


@glyph("switch_off")
def _switch_off(draw, box, color, scale):
    x0, y0, x1, y1 = box
    h = y1 - y0
    draw.rounded_rectangle(box, radius=h / 2, fill=(190, 193, 198))
    draw.ellipse([x0 + 2 * scale, y0 + 2 * scale, x0 + h - 2 * scale, y1 - 2 * scale], fill=(255, 255, 255))


@glyph("cart")
def _cart(draw, box, color, scale):
    cx, cy, r = _square(box, 0.55)
    draw.line([(cx - r, cy - r * 0.7), (cx - r * 0.6, cy - r * 0.7), (cx - r * 0.3, cy + r * 0.4), (cx + r * 0.8, cy + r * 0.4),
               (cx + r, cy - r * 0.4), (cx - r * 0.5, cy - r * 0.4)], fill=color, width=max(1, round(scale)))
    dot = max(1.0, 1.3 * scale)
    for dx in (-0.2, 0.6):
        draw.ellipse([cx + r * dx - dot, cy + r * 0.75 - dot, cx + r * dx + dot, cy + r * 0.75 + dot], fill=color)


@glyph("pin")
def _pin(draw, box, color, scale):
    cx, cy, r = _square(box, 0.6)
    draw.ellipse([cx - r * 0.6, cy - r, cx + r * 0.6, cy + r * 0.2], fill=color)
    draw.polygon([(cx - r * 0.5, cy - r * 0.2), (cx + r * 0.5, cy - r * 0.2), (cx, cy + r)], fill=color)


def _shape_mask(shape: str, width: int, height: int, radius: int, outline: bool) -> Image.Image:
    """A cached 'L' mask of a rounded box or ellipse (filled, or its 1-pixel outline)."""
    key = (shape, width, height, radius, outline)
    mask = _SHAPES.get(key)
    if mask is None:
        mask = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(mask)
        box = (0, 0, width - 1, height - 1)
        if shape == "ellipse":
            draw.ellipse(box, fill=None if outline else 255, outline=255 if outline else None)
        else:
            draw.rounded_rectangle(box, radius=radius, fill=None if outline else 255, outline=255 if outline else None)
        if len(_SHAPES) > MAX_CACHED_TEXTS:
            _SHAPES.clear()
        _SHAPES[key] = mask
    return mask


_SHAPES: dict[tuple[str, int, int, int, bool], Image.Image] = {}


class Renderer:
    """Turns screens into screenshots of a fixed pixel size.

    Boxes, text masks and cached shape masks are pasted with Pillow's core ``paste`` (no Python drawing per
    pixel); groups of elements marked with the same ``layer`` key (keyboard, system bars) are drawn once
    and then pasted as a cached patch.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.scale = width / DESIGN_WIDTH
        self._layers: dict[str, tuple[tuple[int, int, int, int], Image.Image]] = {}

    def _box(self, rect: Rect) -> tuple[int, int, int, int]:
        s = self.scale
        return (max(0, round(rect.x0 * s)), max(0, round(rect.y0 * s)),
                min(self.width, round(rect.x1 * s)), min(self.height, round(rect.y1 * s)))

    def render(self, screen: Screen) -> Image.Image:
        """Draw every element of ``screen`` in order onto a white canvas."""
        image = Image.new("RGB", (self.width, self.height), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        elements = screen.elements
        index = 0
        while index < len(elements):
            element = elements[index]
            if element.layer:
                end = index + 1
                while end < len(elements) and elements[end].layer == element.layer:
                    end += 1
                self._layer(image, draw, elements[index:end])
                index = end
                continue
            self._draw(image, draw, element)
            index += 1
        return image

    def _layer(self, image: Image.Image, draw: ImageDraw.ImageDraw, elements: tuple[Element, ...]) -> None:
        """Paste a cached layer (its first element is an opaque background covering all of it), or draw and cache it."""
        key = elements[0].layer
        cached = self._layers.get(key)
        if cached is not None:
            box, patch = cached
            image.im.paste(patch.im, box)
            return
        for element in elements:
            self._draw(image, draw, element)
        box = self._box(elements[0].rect)
        if box[2] > box[0] and box[3] > box[1]:
            if len(self._layers) > 256:
                self._layers.clear()
            self._layers[key] = (box, image.crop(box))

    def _draw(self, image: Image.Image, draw: ImageDraw.ImageDraw, element: Element) -> None:
        style = element.style
        box = self._box(element.rect)
        width, height = box[2] - box[0], box[3] - box[1]
        if width <= 0 or height <= 0:
            return
        core = image.im
        if style.fill is not None or style.outline is not None:
            if style.shape == "rect":
                if style.fill is not None:
                    core.paste(style.fill, box)
                if style.outline is not None:
                    x0, y0, x1, y1 = box
                    for edge in ((x0, y0, x1, y0 + 1), (x0, y1 - 1, x1, y1), (x0, y0, x0 + 1, y1), (x1 - 1, y0, x1, y1)):
                        core.paste(style.outline, edge)
            else:
                radius = min(height // 2, round(8 * self.scale))
                if style.fill is not None:
                    core.paste(style.fill, box, _shape_mask(style.shape, width, height, radius, False).im)
                if style.outline is not None:
                    core.paste(style.outline, box, _shape_mask(style.shape, width, height, radius, True).im)
        if element.role == "glyph":
            painter = GLYPHS.get(element.text)
            if painter is not None:
                painter(draw, (box[0], box[1], box[2] - 1, box[3] - 1), style.color, self.scale)
            return
        if element.text:
            self._text(image, element, box)

    def _text(self, image: Image.Image, element: Element, box: tuple[int, int, int, int]) -> None:
        style = element.style
        size = max(6, round(style.size * self.scale))
        pad = style.pad * self.scale
        available = int(box[2] - box[0] - 2 * pad)
        if available <= 0:
            return
        text = TEXT_CACHE.fit(element.text, size, available)
        if not text:
            return
        mask, (dx, dy), advance = TEXT_CACHE.mask(text, size)
        line_height = size * 1.2
        top = (box[1] + box[3]) / 2 - line_height / 2
        if element.full_rect is not None and (top < box[1] - 1 or top + line_height > box[3] + 1):
            return  # partly scrolled out: the text line does not fit in what is visible
        if style.align == "center":
            left = (box[0] + box[2]) / 2 - advance / 2
        elif style.align == "right":
            left = box[2] - pad - advance
        else:
            left = box[0] + pad
        mw, mh = mask.size
        x, y = int(left + dx), int(top + dy)
        if x < 0 or y < 0 or x + mw > self.width or y + mh > self.height:  # the mask's margin overhangs the screen
            crop = (max(0, -x), max(0, -y), min(mw, self.width - x), min(mh, self.height - y))
            if crop[2] <= crop[0] or crop[3] <= crop[1]:
                return
            mask = mask.crop(crop)
            x, y = x + crop[0], y + crop[1]
            mw, mh = mask.size
        if mw and mh:
            image.im.paste(style.color, (x, y, x + mw, y + mh), mask.im)
