#!/usr/bin/env python3
"""Check that files are real, non-trivial PNG figures.

usage: png_check.py WIDTH HEIGHT FILE...   (WIDTH or HEIGHT 0: any)

Each FILE must start with the PNG signature, have an IHDR chunk of the
given dimensions (8-bit RGB or RGBA), IDAT data that inflates and unfilters
to exactly that many pixels, and not be blank: at least 1% of the pixels
differ from the background (the top-left pixel) and at least 4 colours.
"""
import struct
import sys
import zlib


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def check(path, want_w, want_h):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "no PNG signature"
    pos, chunks = 8, []
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            return "bad CRC in chunk %r" % kind
        chunks.append((kind, body))
        pos += 12 + n
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        return "IHDR first and IEND last expected"
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[0][1][:10])
    if (want_w and w != want_w) or (want_h and h != want_h):
        return "%dx%d, expected %dx%d" % (w, h, want_w, want_h)
    if depth != 8 or ctype not in (2, 6):
        return "expected 8-bit RGB(A), got depth %d colour type %d" % (depth, ctype)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        return "IDAT holds %d bytes, expected %d" % (len(raw), h * (stride + 1))
    prev = bytearray(stride)
    pixels = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 255
            elif f != 0:
                return "bad filter type %d" % f
        pixels.extend(bytes(line[i:i + bpp]) for i in range(0, stride, bpp))
        prev = line
    background = pixels[0]
    ink = sum(1 for p in pixels if p != background)
    colours = len(set(pixels))
    if ink < 0.01 * len(pixels) or colours < 4:
        return "blank: %d non-background pixels, %d colours" % (ink, colours)
    return None


def main():
    want_w, want_h = int(sys.argv[1]), int(sys.argv[2])
    bad = 0
    for path in sys.argv[3:]:
        try:
            why = check(path, want_w, want_h)
        except (OSError, zlib.error, struct.error) as e:
            why = str(e)
        if why:
            print("%s: %s" % (path, why))
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
