"""Pillow drawings of the Gym Cards states: cards with their rank and suit, the formula, the number line."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from coso.env.gym_cards.rules import BlackjackState, Card, FormulaState, NumberLineState, rank_name

IMAGE_SIZE = 224
TABLE_GREEN = (53, 101, 77)
RED = (200, 30, 40)
BLACK = (20, 20, 20)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in scalable font (no font file needed)."""
    return ImageFont.load_default(size=size)


def _suit_shape(draw: ImageDraw.ImageDraw, suit: str, cx: float, cy: float, r: float) -> None:
    """Draw a suit symbol of radius ``r`` centred on ``(cx, cy)``."""
    color = RED if suit in ("hearts", "diamonds") else BLACK
    if suit == "diamonds":
        draw.polygon([(cx, cy - r), (cx + 0.75 * r, cy), (cx, cy + r), (cx - 0.75 * r, cy)], fill=color)
    elif suit == "hearts":
        lobe = r / 2
        draw.ellipse([cx - r, cy - r * 0.8, cx, cy - r * 0.8 + 2 * lobe], fill=color)
        draw.ellipse([cx, cy - r * 0.8, cx + r, cy - r * 0.8 + 2 * lobe], fill=color)
        draw.polygon([(cx - r, cy - r * 0.8 + lobe), (cx + r, cy - r * 0.8 + lobe), (cx, cy + r)], fill=color)
    elif suit == "spades":
        lobe = r / 2
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.2), (cx - r, cy + r * 0.2)], fill=color)
        draw.ellipse([cx - r, cy - r * 0.2, cx, cy - r * 0.2 + 2 * lobe], fill=color)
        draw.ellipse([cx, cy - r * 0.2, cx + r, cy - r * 0.2 + 2 * lobe], fill=color)
        draw.polygon([(cx, cy + r * 0.3), (cx + r * 0.35, cy + r), (cx - r * 0.35, cy + r)], fill=color)
    else:  # clubs
        lobe = r * 0.45
        for dx, dy in ((0, -0.5), (-0.5, 0.2), (0.5, 0.2)):
            x, y = cx + dx * r, cy + dy * r
            draw.ellipse([x - lobe, y - lobe, x + lobe, y + lobe], fill=color)
        draw.polygon([(cx, cy), (cx + r * 0.35, cy + r), (cx - r * 0.35, cy + r)], fill=color)


def draw_card(canvas: Image.Image, card: Card | None, box: tuple[int, int, int, int]) -> None:
    """A card face (rank in the corners, the suit in the middle) in ``box``; None draws a face-down card."""
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = box
    if card is None:
        draw.rounded_rectangle(box, radius=6, fill=(40, 60, 150), outline=(230, 230, 230), width=2)
        return
    draw.rounded_rectangle(box, radius=6, fill=(250, 250, 245), outline=BLACK, width=2)
    color = RED if card.suit in ("hearts", "diamonds") else BLACK
    width = x1 - x0
    font = _font(max(10, int(width * 0.3)))
    draw.text((x0 + 4, y0 + 2), rank_name(card.rank), fill=color, font=font)
    draw.text((x1 - 4, y1 - 2), rank_name(card.rank), fill=color, font=font, anchor="rd")
    _suit_shape(draw, card.suit, (x0 + x1) / 2, (y0 + y1) / 2, width * 0.22)


def _card_row(canvas: Image.Image, cards: list[Card | None], top: int, width: int) -> None:
    """Cards side by side, centred, ``width`` pixels wide each (5:7)."""
    gap = max(4, width // 8)
    left = (IMAGE_SIZE - len(cards) * width - (len(cards) - 1) * gap) // 2
    for index, card in enumerate(cards):
        x = left + index * (width + gap)
        draw_card(canvas, card, (x, top, x + width, top + int(width * 1.4)))


def render_number_line(state: NumberLineState) -> Image.Image:
    """The target and the current number written large, above a line with both marked."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white")
    draw = ImageDraw.Draw(image)
    font = _font(30)
    draw.text((16, 24), f"Target: {state.target}", fill=BLACK, font=font)
    draw.text((16, 84), f"Current: {state.current}", fill=BLACK, font=font)
    left, right, y = 20, IMAGE_SIZE - 20, 175
    draw.line([(left, y), (right, y)], fill=BLACK, width=2)
    step = (right - left) / max(1, state.max_position)
    small = _font(12)
    for n in range(state.max_position + 1):
        x = left + n * step
        draw.line([(x, y - 5), (x, y + 5)], fill=BLACK, width=2)
        draw.text((x, y + 10), str(n), fill=BLACK, font=small, anchor="mt")
    tx, cx = left + state.target * step, left + state.current * step
    draw.polygon([(tx - 7, y - 22), (tx + 7, y - 22), (tx, y - 8)], fill=(30, 120, 40))
    draw.ellipse([cx - 7, y - 7, cx + 7, y + 7], fill=RED)
    return image


def render_formula(state: FormulaState) -> Image.Image:
    """The cards on a green table and the formula written so far below them."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), TABLE_GREEN)
    width = 70 if len(state.cards) <= 2 else 46
    _card_row(image, list(state.cards), 24, width)
    draw = ImageDraw.Draw(image)
    formula = " ".join(state.formula)
    draw.text((8, IMAGE_SIZE - 40), f"Formula: {formula}", fill="white", font=_font(15))
    return image


def render_blackjack(state: BlackjackState) -> Image.Image:
    """The dealer's up card and hidden card above, the player's hand below."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), TABLE_GREEN)
    draw = ImageDraw.Draw(image)
    small = _font(12)
    draw.text((6, 4), "Dealer", fill="white", font=small)
    _card_row(image, [state.dealer[0], None], 20, 50)
    draw.text((6, 112), "Player", fill="white", font=small)
    width = 50 if len(state.player) <= 3 else max(22, (IMAGE_SIZE - 16) // len(state.player) - 6)
    _card_row(image, list(state.player), 128, width)
    return image
