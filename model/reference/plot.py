"""Loss-curve PNG from a training log (log.jsonl), with no plotting library: a small rasteriser,
a 3x5 bitmap font for the labels, and a PNG writer (zlib + CRC chunks).

  /usr/bin/python3 plot.py runs/whale-tiny/log.jsonl ../../models/whale-tiny/loss.png"""

import json
import struct
import sys
import zlib

W, H = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 50
SERIES = [("lm", (200, 40, 40)), ("mtp", (40, 90, 200)), ("indexer_kl", (40, 150, 60))]

FONT = {  # 3x5 glyphs, rows top to bottom, bit 2 = left column
    "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7],
    "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1],
    "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7], ".": [0, 0, 0, 0, 2], " ": [0, 0, 0, 0, 0],
    "_": [0, 0, 0, 0, 7], "/": [1, 1, 2, 4, 4], "-": [0, 0, 7, 0, 0],
    "a": [0, 7, 1, 7, 7], "b": [4, 4, 7, 5, 7], "d": [1, 1, 7, 5, 7], "e": [7, 5, 7, 4, 7],
    "i": [2, 0, 2, 2, 2], "k": [4, 5, 6, 5, 5], "l": [6, 2, 2, 2, 7], "m": [0, 7, 7, 5, 5],
    "n": [0, 6, 5, 5, 5], "o": [0, 7, 5, 5, 7], "p": [7, 5, 7, 4, 4], "r": [0, 7, 4, 4, 4],
    "s": [7, 4, 7, 1, 7], "t": [4, 7, 4, 4, 7], "x": [0, 5, 2, 2, 5], "w": [0, 5, 5, 7, 7],
    "h": [4, 4, 7, 5, 5], "c": [0, 7, 4, 4, 7], "g": [7, 5, 7, 1, 7], "u": [0, 5, 5, 5, 7],
}


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def line(self, x0, y0, x1, y1, c, thick=1):
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(n + 1):
            x, y = round(x0 + (x1 - x0) * k / n), round(y0 + (y1 - y0) * k / n)
            for dx in range(thick):
                for dy in range(thick):
                    self.dot(x + dx, y + dy, c)

    def text(self, x, y, s, c=(0, 0, 0), scale=2):
        for ch in s:
            rows = FONT.get(ch, FONT[" "])
            for r, bits in enumerate(rows):
                for col in range(3):
                    if bits >> (2 - col) & 1:
                        for dx in range(scale):
                            for dy in range(scale):
                                self.dot(x + col * scale + dx, y + r * scale + dy, c)
            x += 4 * scale

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))
        chunk = lambda tag, data: (struct.pack(">I", len(data)) + tag + data
                                   + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def plot(records, path):
    steps = [r["step"] for r in records]
    ymax = max(max(r[k] for r in records) for k, _ in SERIES[:2])
    ymax = max(1.0, float(int(ymax) + 1))
    xmax = max(steps[-1], 1)
    cv = Canvas(W, H)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    X = lambda s: LEFT + round(s / xmax * pw)
    Y = lambda v: TOP + ph - round(min(v, ymax) / ymax * ph)
    grey = (200, 200, 200)
    for k in range(0, 6):
        v = ymax * k / 5
        cv.line(LEFT, Y(v), W - RIGHT, Y(v), grey)
        cv.text(8, Y(v) - 5, f"{v:.1f}")
    for k in range(0, 6):
        s = round(xmax * k / 5)
        cv.line(X(s), TOP, X(s), TOP + ph, grey)
        cv.text(X(s) - 10, TOP + ph + 8, str(s))
    cv.line(LEFT, TOP, LEFT, TOP + ph, (0, 0, 0))
    cv.line(LEFT, TOP + ph, W - RIGHT, TOP + ph, (0, 0, 0))
    cv.text(W // 2 - 20, H - 18, "step")
    x = LEFT + 10
    for key, color in SERIES:
        pts = [(X(r["step"]), Y(r[key])) for r in records]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            cv.line(x0, y0, x1, y1, color, 2)
        cv.line(x, 12, x + 20, 12, color, 3)
        cv.text(x + 26, 7, key)
        x += 26 + 4 * 2 * len(key) + 30
    cv.png(path)


def main():
    with open(sys.argv[1]) as f:
        by_step = {}
        for line in f:
            if line.strip():
                r = json.loads(line)
                if "step" in r:                 # copy-drill warm-up records have copy_step
                    by_step[r["step"]] = r      # a resumed run logs its first step again
        records = [by_step[k] for k in sorted(by_step)]
    if not records:
        sys.exit(f"{sys.argv[1]}: no records")
    plot(records, sys.argv[2])
    print(f"wrote {sys.argv[2]} ({len(records)} points)")


if __name__ == "__main__":
    main()
