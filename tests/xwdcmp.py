#!/usr/bin/python3
"""xwdcmp.py - compare two X window dumps (xwd files) pixel for pixel.

Usage: xwdcmp.py [--at X,Y | --find] [--region X,Y,W,H] [--save FILE.png]
                 ACTUAL.xwd EXPECTED.xwd

EXPECTED (all of it, or the --region of it) is compared with the rectangle of
the same size in ACTUAL whose top left corner is at X,Y (--at, default 0,0).
With --find, ACTUAL is searched for EXPECTED and the first position where it
appears whole is printed.  --save writes the rectangle of ACTUAL that was
compared (with --find: the one at 0,0 when nothing was found) as a PNG file,
for a human to look at.

Pixels are compared as 8-bit red, green and blue values, so dumps taken from
servers with different pixel layouts compare equal when they show the same
colours (a channel narrower than 8 bits is widened as value * 255 / max,
rounded down, as TigerVNC's viewer does).  Only ZPixmap dumps (what xwd
writes) are read.

Exit status: 0 equal (found), 1 different (not found), 2 unusable input.
"""

import argparse
import struct
import sys
import zlib

# XWDFileHeader: 25 CARD32, most significant byte first (xwd swaps them).
HEADER = struct.Struct(">25I")
FIELDS = (
    "header_size file_version pixmap_format pixmap_depth pixmap_width "
    "pixmap_height xoffset byte_order bitmap_unit bitmap_bit_order bitmap_pad "
    "bits_per_pixel bytes_per_line visual_class red_mask green_mask blue_mask "
    "bits_per_rgb colormap_entries ncolors window_width window_height window_x "
    "window_y window_bdrwidth"
).split()
# XWDColor: CARD32 pixel, CARD16 red, green, blue, CARD8 flags, CARD8 pad.
COLOR = struct.Struct(">IHHHBB")
XWD_FILE_VERSION = 7
ZPIXMAP = 2
MSB_FIRST = 1
# Visual classes.
STATIC_GRAY, GRAY_SCALE, STATIC_COLOR, PSEUDO_COLOR, TRUE_COLOR, DIRECT_COLOR = range(6)


class BadImage(Exception):
    pass


class Image:
    """An image as rows of 8-bit R, G, B bytes: self.rgb[y*w*3 + x*3]."""

    def __init__(self, width, height, rgb, name):
        self.width = width
        self.height = height
        self.rgb = rgb
        self.name = name

    def pixel(self, x, y):
        i = (y * self.width + x) * 3
        return self.rgb[i:i + 3]

    def row(self, y, x=0, w=None):
        if w is None:
            w = self.width - x
        i = (y * self.width + x) * 3
        return self.rgb[i:i + w * 3]


def mask_shift_width(mask):
    if mask == 0:
        raise BadImage("a colour mask is zero")
    shift = (mask & -mask).bit_length() - 1
    width = (mask >> shift).bit_length()
    if (mask >> shift) != (1 << width) - 1:
        raise BadImage("colour mask %#x is not contiguous" % mask)
    return shift, width


def scale_to_8(value, width):
    if width >= 8:
        return value >> (width - 8)
    # value * 255 / max, rounded down: what TigerVNC's viewer shows for a
    # narrower channel.
    return value * 255 // ((1 << width) - 1)


def read_xwd(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BadImage("%s: %s" % (path, e.strerror))
    if len(data) < HEADER.size:
        raise BadImage("%s: too short for an xwd header" % path)
    h = dict(zip(FIELDS, HEADER.unpack_from(data, 0)))
    if h["file_version"] != XWD_FILE_VERSION:
        raise BadImage("%s: not an xwd file (version %d, expected %d)"
                       % (path, h["file_version"], XWD_FILE_VERSION))
    if h["pixmap_format"] != ZPIXMAP:
        raise BadImage("%s: pixmap format %d, only ZPixmap (2) is read"
                       % (path, h["pixmap_format"]))
    bpp = h["bits_per_pixel"]
    if bpp not in (8, 16, 24, 32):
        raise BadImage("%s: %d bits per pixel is not supported" % (path, bpp))
    w, h_, stride = h["pixmap_width"], h["pixmap_height"], h["bytes_per_line"]
    if stride < w * bpp // 8:
        raise BadImage("%s: %d bytes per line for %d pixels" % (path, stride, w))
    colors_at = h["header_size"]
    pixels_at = colors_at + h["ncolors"] * COLOR.size
    if len(data) < pixels_at + stride * h_:
        raise BadImage("%s: truncated (%d bytes, expected %d)"
                       % (path, len(data), pixels_at + stride * h_))
    colormap = {}
    for i in range(h["ncolors"]):
        pixel, r, g, b, _, _ = COLOR.unpack_from(data, colors_at + i * COLOR.size)
        colormap[pixel] = bytes((r >> 8, g >> 8, b >> 8))
    rows = [data[pixels_at + y * stride:pixels_at + y * stride + w * bpp // 8]
            for y in range(h_)]
    rgb = convert(h, rows, colormap, path)
    return Image(w, h_, rgb, path)


def convert(h, rows, colormap, path):
    bpp = h["bits_per_pixel"]
    size = bpp // 8
    w = h["pixmap_width"]
    msb = h["byte_order"] == MSB_FIRST
    direct = h["visual_class"] in (TRUE_COLOR, DIRECT_COLOR)
    masks = (h["red_mask"], h["green_mask"], h["blue_mask"])
    out = bytearray(w * len(rows) * 3)

    if direct and size in (3, 4):
        # Fast path: every channel is one whole byte of the pixel.
        offsets = []
        for mask in masks:
            shift, width = mask_shift_width(mask)
            if width != 8 or shift % 8 != 0:
                break
            byte = shift // 8
            offsets.append(size - 1 - byte if msb else byte)
        if len(offsets) == 3:
            plane = b"".join(rows)
            for c, off in enumerate(offsets):
                out[c::3] = plane[off::size]
            return bytes(out)

    order = "big" if msb else "little"
    if direct:
        channels = [mask_shift_width(m) + (m,) for m in masks]
    i = 0
    for row in rows:
        for x in range(0, w * size, size):
            value = int.from_bytes(row[x:x + size], order)
            if direct:
                for c, (shift, width, mask) in enumerate(channels):
                    out[i + c] = scale_to_8((value & mask) >> shift, width)
            else:
                colour = colormap.get(value)
                if colour is None:
                    raise BadImage("%s: pixel %d is not in the colormap" % (path, value))
                out[i:i + 3] = colour
            i += 3
    return bytes(out)


def crop(img, x, y, w, h):
    rgb = b"".join(img.row(yy, x, w) for yy in range(y, y + h))
    return Image(w, h, rgb, "%s[%dx%d+%d+%d]" % (img.name, w, h, x, y))


def compare_at(actual, expected, x, y):
    """Number of differing pixels and the first difference, or None."""
    differing = 0
    first = None
    w = expected.width
    for yy in range(expected.height):
        a = actual.row(y + yy, x, w)
        e = expected.row(yy)
        if a == e:
            continue
        for xx in range(w):
            if a[xx * 3:xx * 3 + 3] != e[xx * 3:xx * 3 + 3]:
                differing += 1
                if first is None:
                    first = (xx, yy)
    return differing, first


def find(actual, expected):
    """Top left corner of the first place where EXPECTED appears whole."""
    if expected.width > actual.width or expected.height > actual.height:
        return None
    first_row = expected.row(0)
    last_x = actual.width - expected.width
    for y in range(actual.height - expected.height + 1):
        row = actual.row(y)
        start = 0
        while True:
            i = row.find(first_row, start)
            if i < 0:
                break
            if i % 3 != 0:
                start = i + 1
                continue
            x = i // 3
            if x > last_x:
                break
            if all(actual.row(y + yy, x, expected.width) == expected.row(yy)
                   for yy in range(1, expected.height)):
                return x, y
            start = i + 3
    return None


def write_png(path, img):
    raw = b"".join(b"\0" + img.row(y) for y in range(img.height))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", img.width, img.height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def hexcolour(rgb):
    return "#%02x%02x%02x" % tuple(rgb)


def numbers(text, count, what):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count or min(values) < 0:
        raise argparse.ArgumentTypeError("%s: expected %d non-negative numbers separated by commas"
                                         % (what, count))
    return values


def main(argv):
    p = argparse.ArgumentParser(
        description="Compare a rectangle of one xwd dump with another dump.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--at", metavar="X,Y", type=lambda t: numbers(t, 2, "--at"),
                       help="top left corner of the rectangle in ACTUAL (default 0,0)")
    where.add_argument("--find", action="store_true",
                       help="search ACTUAL for EXPECTED and print where it is")
    p.add_argument("--region", metavar="X,Y,W,H", type=lambda t: numbers(t, 4, "--region"),
                   help="compare only this rectangle of EXPECTED")
    p.add_argument("--save", metavar="FILE.png", help="write the compared part of ACTUAL")
    p.add_argument("actual")
    p.add_argument("expected")
    args = p.parse_args(argv)

    try:
        actual = read_xwd(args.actual)
        expected = read_xwd(args.expected)
    except BadImage as e:
        print("xwdcmp: %s" % e)
        return 2

    if args.region:
        rx, ry, rw, rh = args.region
        if rw == 0 or rh == 0 or rx + rw > expected.width or ry + rh > expected.height:
            print("xwdcmp: region %dx%d+%d+%d is outside %s (%dx%d)"
                  % (rw, rh, rx, ry, expected.name, expected.width, expected.height))
            return 2
        expected = crop(expected, rx, ry, rw, rh)

    w, h = expected.width, expected.height
    if args.find:
        pos = find(actual, expected)
        if args.save:
            x, y = pos or (0, 0)
            if x + w <= actual.width and y + h <= actual.height:
                write_png(args.save, crop(actual, x, y, w, h))
        if pos is None:
            print("not found: %s (%dx%d) does not appear whole in %s (%dx%d)"
                  % (expected.name, w, h, actual.name, actual.width, actual.height))
            return 1
        print("found: %s (%dx%d) in %s at +%d+%d"
              % (expected.name, w, h, actual.name, pos[0], pos[1]))
        return 0

    x, y = args.at or (0, 0)
    if x + w > actual.width or y + h > actual.height:
        print("different: %dx%d at +%d+%d does not fit in %s (%dx%d)"
              % (w, h, x, y, actual.name, actual.width, actual.height))
        return 1
    if args.save:
        write_png(args.save, crop(actual, x, y, w, h))
    differing, first = compare_at(actual, expected, x, y)
    if differing == 0:
        print("equal: %s (%dx%d) and %s at +%d+%d" % (expected.name, w, h, actual.name, x, y))
        return 0
    fx, fy = first
    print("different: %d of %d pixels differ between %s (%dx%d) and %s at +%d+%d; "
          "first at %d,%d: %s instead of %s"
          % (differing, w * h, expected.name, w, h, actual.name, x, y, fx, fy,
             hexcolour(actual.pixel(x + fx, y + fy)), hexcolour(expected.pixel(fx, fy))))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
