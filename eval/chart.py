"""chart.png: quality metrics as horizontal bars, product next to peer.

Uses matplotlib when it is installed; otherwise draws the bars and a 5x7 pixel font
straight into an RGB buffer and writes the PNG with zlib (no dependency).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

Color = tuple[int, int, int]
PRODUCT_COLOR: Color = (31, 119, 180)
PEER_COLOR: Color = (255, 127, 14)
INK: Color = (40, 40, 40)
GRID: Color = (225, 225, 225)

# 5x7 glyphs, one string of 7 five-pixel rows per character (upper case only).
_GLYPHS = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000", ".": "00000 00000 00000 00000 00000 01100 01100",
    "-": "00000 00000 00000 11111 00000 00000 00000", "@": "01110 10001 10111 10101 10111 10000 01110",
    "%": "11000 11001 00010 00100 01000 10011 00011", "/": "00000 00001 00010 00100 01000 10000 00000",
    ":": "00000 01100 01100 00000 01100 01100 00000", "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000", "_": "00000 00000 00000 00000 00000 00000 11111",
}


class Canvas:
    """An RGB pixel buffer with rectangles, text and PNG output."""

    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        """Fill a rectangle, clipped to the canvas."""
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0:
            return
        row = bytes(color) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: Color = INK, scale: int = 2) -> int:
        """Draw upper-cased text with the 5x7 font; returns the x after the last character."""
        for char in text.upper():
            rows = _GLYPHS.get(char, _GLYPHS[" "]).split()
            for dy, bits in enumerate(rows):
                for dx, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(x + dx * scale, y + dy * scale, scale, scale, color)
            x += 6 * scale
        return x

    def png(self) -> bytes:
        """The canvas as a PNG file (8-bit RGB, no filtering)."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bar_chart(
    title: str, labels: list[str], series: dict[str, list[float | None]], colors: list[Color], footer: str = ""
) -> bytes:
    """Grouped horizontal bars of values in [0, 1], one group per label, as PNG bytes."""
    left, bar_w, bar_h, gap, top = 250, 560, 14, 14, 80
    group_h = bar_h * len(series) + gap
    canvas = Canvas(left + bar_w + 90, top + group_h * len(labels) + 40)
    canvas.text(20, canvas.height - 22, footer, scale=1)
    canvas.text(20, 16, title, scale=2)
    x = 20
    for (name, _), color in zip(series.items(), colors):
        canvas.rect(x, 48, 14, 14, color)
        x = canvas.text(x + 20, 48, name, scale=2) + 24
    for tick in range(0, 11, 2):
        canvas.rect(left + bar_w * tick // 10, top - 6, 1, group_h * len(labels), GRID)
    for i, label in enumerate(labels):
        y = top + i * group_h
        canvas.text(20, y + (bar_h * len(series) - 14) // 2, label, scale=2)
        for j, ((_, values), color) in enumerate(zip(series.items(), colors)):
            value = values[i]
            yy = y + j * bar_h
            if value is None:
                canvas.text(left + 4, yy + 2, "N/A", scale=1)
                continue
            width = round(bar_w * max(0.0, min(1.0, value)))
            canvas.rect(left, yy, width, bar_h - 2, color)
            canvas.text(left + width + 6, yy + 2, f"{value:.2f}", scale=1)
    return canvas.png()


def write_chart(path: Path, title: str, labels: list[str], series: dict[str, list[float | None]], footer: str = "") -> str:
    """Write chart.png with matplotlib if available, else with the built-in writer; returns which."""
    colors = [PRODUCT_COLOR, PEER_COLOR, (44, 160, 44)][: len(series)]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        Path(path).write_bytes(bar_chart(title, labels, series, colors, footer))
        return "built-in PNG writer"
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) * len(series) + 1.5))
    height = 0.8 / len(series)
    for j, ((name, values), color) in enumerate(zip(series.items(), colors)):
        ys = [i + j * height for i in range(len(labels))]
        ax.barh(ys, [v or 0 for v in values], height=height, label=name, color=[c / 255 for c in color])
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title(title)
    if footer:
        fig.text(0.01, 0.01, footer, fontsize=8)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return "matplotlib"
