"""The approach `storectl generate` replaces: one Pillow process drawing each card and writing
its five files, as the seed system did. The same layout as src/render/card-layout.ts (CR80 at
300 dpi: gradient ground, guilloche waves, rosette, bands, emblem, the same fields in DejaVu,
the back's table, MRZ and bar block), PNG at zlib level 6, PDFs by Pillow's own writer; each
file written as storectl writes it (temp file, fsync, rename, fsync of the directory). It keeps
no catalog and hashes nothing: storectl does both on top (SHA-256, rows in SQLite).

Usage: python3 pillow_card.py OUTDIR JOBS.ndjson FONT_DIR   (prints one JSON line of totals)
Each line of JOBS.ndjson: {"id": ..., "data": {holderName, licenceNumber, categories, ...}}.
"""
import hashlib
import io
import json
import math
import os
import sys
import time
import unicodedata

from PIL import Image, ImageDraw, ImageFont

W, H = 1012, 638
PHOTO = (40, 136, 268, 344)
NAVY, NAVY_LIGHT, GOLD = (0x17, 0x33, 0x5F), (0x2B, 0x56, 0x94), (0xC9, 0xA2, 0x27)
LABEL, INK, WHITE = (0x4D, 0x64, 0x84), (0x0F, 0x22, 0x40), (255, 255, 255)
ISSUER = "UTO"
FONTS = {}


def font(key, size):
    k = (key, size)
    if k not in FONTS:
        name = {"sans": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf", "mono": "DejaVuSansMono.ttf", "monoBold": "DejaVuSansMono-Bold.ttf"}[key]
        FONTS[k] = ImageFont.truetype(os.path.join(FONT_DIR, name), size)
    return FONTS[k]


def hexrgb(s):
    n = int(s[1:], 16)
    return (n >> 16, (n >> 8) & 255, n & 255)


def gradient(w, h, stops, diagonal=True):
    """A linear gradient (top-left to bottom-right, or left to right) through the stops."""
    img = Image.new("RGB", (w, h))
    px = []
    for y in range(h):
        for x in range(w):
            t = ((x / w) + (y / h)) / 2 if diagonal else x / w
            for (o0, c0), (o1, c1) in zip(stops, stops[1:]):
                if t <= o1:
                    u = (t - o0) / (o1 - o0) if o1 > o0 else 0
                    px.append(tuple(round(a + (b - a) * u) for a, b in zip(c0, c1)))
                    break
    img.putdata(px)
    return img


def waves(d, count, top, gap, phase, color):
    for i in range(count):
        pts = [(x, top + i * gap + 9 * math.sin(x / 70 + i * 0.55 + phase) + 4 * math.sin(x / 23 + i * 1.3)) for x in range(0, W + 1, 12)]
        d.line(pts, fill=color, width=1)


def ground(back):
    img = gradient(W, H, [(0, hexrgb("#f4f8fc")), (0.6, hexrgb("#e2edf6")), (1, hexrgb("#f3ecdc"))])
    d = ImageDraw.Draw(img)
    band = lambda h: gradient(W, h, [(0, NAVY), (1, NAVY_LIGHT)], diagonal=False)
    if back:
        waves(d, 14, 96, 27, 2, hexrgb("#cbd9e8"))
        img.paste(band(72), (0, 0))
        d.rectangle([0, 72, W, 77], fill=GOLD)
        d.rounded_rectangle([620, 94, 972, 452], radius=8, fill=(249, 251, 253), outline=hexrgb("#b8c8d9"), width=2)
        d.rectangle([0, 470, W, H], fill=hexrgb("#f8f6ef"))
        d.rectangle([0, 470, W, 472], fill=hexrgb("#b8c8d9"))
        return img
    waves(d, 17, 128, 28, 0, hexrgb("#c4d5e6"))
    for i in range(18):
        a = i * math.pi / 9
        cx, cy = 760 + 85 * math.cos(a), 420 + 85 * math.sin(a)
        d.ellipse([cx - 85, cy - 85, cx + 85, cy + 85], outline=hexrgb("#d9c48c"), width=1)
    img.paste(band(104), (0, 0))
    d.rectangle([0, 104, W, 110], fill=GOLD)
    d.ellipse([910, 14, 986, 90], fill=NAVY, outline=GOLD, width=2)
    for i in range(12):
        a = i * math.pi / 6
        sx, sy = 948 + 27 * math.sin(a), 52 - 27 * math.cos(a)
        d.polygon([(sx + (4.6 if k % 2 == 0 else 1.9) * math.sin(k * math.pi / 5), sy - (4.6 if k % 2 == 0 else 1.9) * math.cos(k * math.pi / 5)) for k in range(10)], fill=GOLD)
    l, t, w, h = PHOTO
    d.rounded_rectangle([l - 6, t - 6, l + w + 6, t + h + 6], radius=6, fill=WHITE, outline=hexrgb("#9fb3c8"), width=2)
    d.rectangle([l, t, l + w, t + h], fill=hexrgb("#dde5ee"))
    cx = l + w / 2
    d.ellipse([cx - 62, t + 66, cx + 62, t + 190], fill=hexrgb("#a9b8c9"))
    d.chord([l + 22, t + 208, l + w - 22, t + h + 136], 180, 360, fill=hexrgb("#a9b8c9"))
    img.paste(band(38), (0, H - 38))
    d.rectangle([0, H - 41, W, H - 38], fill=GOLD)
    return img


GROUNDS = {}


def base(back):
    # The static artwork is drawn once per process and copied per card, as storectl does.
    if back not in GROUNDS:
        GROUNDS[back] = ground(back)
    return GROUNDS[back].copy()


def shown(iso):
    return f"{iso[8:10]}.{iso[5:7]}.{iso[0:4]}"


def fitted(d, text, key, size, max_w, min_size):
    while size > min_size and d.textlength(text, font=font(key, size)) > max_w:
        size -= 1
    return font(key, size)


def mrz_chars(s):
    out = ""
    for ch in unicodedata.normalize("NFD", s).upper():
        if unicodedata.category(ch) == "Mn":
            continue
        out += ch if ch.isascii() and ch.isalnum() else "<"
    return out


def check_digit(s):
    total = 0
    for i, c in enumerate(s):
        v = ord(c) - 55 if c >= "A" else (int(c) if c.isdigit() else 0)
        total += v * (7, 3, 1)[i % 3]
    return str(total % 10)


def mrz_lines(c):
    number = mrz_chars(c["licenceNumber"]).replace("<", "")
    num9 = number[:9].ljust(9, "<")
    line1 = f"DL{ISSUER}{num9}{check_digit(num9)}{number[9:]}"[:30].ljust(30, "<")
    ymd = lambda s: s[2:4] + s[5:7] + s[8:10] if s else "<<<<<<"
    dob, exp = ymd(c.get("dateOfBirth")), ymd(c["expiryDate"])
    cats = mrz_chars("<".join(c["categories"]))[:11].ljust(11, "<")
    body = f"{dob}{check_digit(dob)}<{exp}{check_digit(exp)}{ISSUER}{cats}"
    line2 = body + check_digit(line1[5:] + body)
    words = [w for w in mrz_chars(c["holderName"]).split("<") if w]
    surname = words.pop() if words else ""
    line3 = f"{surname}<<{'<'.join(words)}"[:30].ljust(30, "<")
    return [line1, line2, line3]


def front(c):
    img = base(False)
    d = ImageDraw.Draw(img)
    x0, col2 = 340, 640
    max_w = W - x0 - 36
    d.text((40, 20), "DRIVING LICENCE", font=font("bold", 42), fill=WHITE)
    d.text((42, 70), "UTOPIA  ·  PERMIS DE CONDUIRE  ·  FÜHRERSCHEIN", font=font("sans", 17), fill=hexrgb("#c9d6ea"))
    d.text((948, 52), ISSUER, font=font("bold", 17), fill=WHITE, anchor="mm")
    d.text((20, H - 27), "UTOPIA · DRIVING LICENCE · " * 5, font=font("sans", 12), fill=hexrgb("#8fa7c8"))
    y = 134

    def field(label, value, vfont, x=x0):
        d.text((x, y), label, font=font("sans", 15), fill=LABEL)
        d.text((x, y + 20), value, font=vfont, fill=INK)
        return 20 + vfont.size + 20

    y += field("1/2. NAME", c["holderName"], fitted(d, c["holderName"], "bold", 36, max_w, 22))
    if c.get("dateOfBirth"):
        y += field("3. DATE OF BIRTH", shown(c["dateOfBirth"]), font("bold", 30))
    field("4b. EXPIRES", shown(c["expiryDate"]), font("bold", 30), col2)
    y += field("4a. ISSUED", shown(c["issueDate"]), font("bold", 30))
    y += field("5. LICENCE NO.", c["licenceNumber"], fitted(d, c["licenceNumber"], "monoBold", 30, max_w, 18))
    cats = "  ".join(c["categories"])
    field("9. CATEGORIES", cats, font("bold", 24 if len(cats) > 36 else 30))
    return img


def back(c):
    img = base(True)
    d = ImageDraw.Draw(img)
    n = len(c["categories"])
    tx, tw, top, head_h = 36, 560, 94, 34
    row_h = min(36, (358 - head_h) // n)
    fs = max(12, min(20, round(row_h * 0.68)))
    d.rectangle([tx, top, tx + tw, top + head_h], fill=NAVY)
    for i in range(n):
        d.rectangle([tx, top + head_h + i * row_h, tx + tw, top + head_h + (i + 1) * row_h], fill=hexrgb("#e6eef7") if i % 2 else WHITE)
    d.rectangle([tx - 1, top - 1, tx + tw + 1, top + head_h + n * row_h + 1], outline=hexrgb("#8aa2bd"), width=2)
    d.text((40, 20), "9. CATEGORIES  ·  ENTITLEMENTS", font=font("bold", 26), fill=WHITE)
    d.text((W - 40, 23), c["licenceNumber"], font=font("monoBold", 24), fill=WHITE, anchor="ra")
    cols = (tx + 20, tx + 150, tx + 360)
    for x, s in zip(cols, ("CAT.", "4a. VALID FROM", "4b. VALID UNTIL")):
        d.text((x, top + 10), s, font=font("bold", 14), fill=WHITE)
    for i, cat in enumerate(c["categories"]):
        y = top + head_h + i * row_h + (row_h - fs) / 2
        d.text((cols[0], y), cat, font=font("bold", fs), fill=INK)
        d.text((cols[1], y), shown(c["issueDate"]), font=font("sans", fs), fill=INK)
        d.text((cols[2], y), shown(c["expiryDate"]), font=font("sans", fs), fill=INK)
    y = top + 12
    for label, value in ((("8. ADDRESS", c["address"]),) if c.get("address") else ()) + (("1/2. HOLDER", c["holderName"]),):
        d.text((640, y), label, font=font("sans", 15), fill=LABEL)
        d.multiline_text((640, y + 20), value, font=font("sans" if label.startswith("8") else "bold", 20), fill=INK)
        y += 20 + 24 * (value.count("\n") + 1) + 14
    d.multiline_text((W / 2, 554), "\n".join(mrz_lines(c)), font=font("mono", 36), fill=(0x1A, 0x1A, 0x1A), anchor="mm", align="center")
    # the bar block: modules from SHA-256 of the card data, as storectl draws it
    seed = f"{c['licenceNumber']}\n{c['holderName']}\n{c['issueDate']}"
    modules = 312 // 2
    for r in range(6):
        bits = ""
        k = 0
        while len(bits) < modules:
            bits += "".join(f"{b:08b}" for b in hashlib.sha256(f"{seed}/{r}/{k}".encode()).digest())
            k += 1
        row = "11111111010101000" + bits[: modules - 35] + "111111101000101001"
        for m, bit in enumerate(row):
            if bit == "1":
                d.rectangle([640 + m * 2, 372 + r * 11, 641 + m * 2, 382 + r * 11], fill=(0x11, 0x1A, 0x2B))
    return img


def write_atomic(directory, name, data):
    tmp = os.path.join(directory, f".{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(directory, name))


def encoded(save):
    buf = io.BytesIO()
    save(buf)
    return buf.getvalue()


def main():
    global FONT_DIR
    out, jobs_file, FONT_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
    started = time.perf_counter()
    jobs = files = size = 0
    with open(jobs_file) as fh:
        for line in fh:
            if not line.strip():
                continue
            job = json.loads(line)
            f, b = front(job["data"]), back(job["data"])
            directory = os.path.join(out, job["id"])
            os.makedirs(directory, mode=0o750, exist_ok=True)
            pdf = lambda pages: encoded(lambda buf: pages[0].save(buf, "PDF", resolution=300, save_all=True, append_images=pages[1:]))
            outputs = {
                "front.png": encoded(lambda buf: f.save(buf, "PNG", compress_level=6, dpi=(300, 300))),
                "back.png": encoded(lambda buf: b.save(buf, "PNG", compress_level=6, dpi=(300, 300))),
                "front.pdf": pdf([f]),
                "back.pdf": pdf([b]),
                "combined.pdf": pdf([f, b]),
            }
            for name, data in outputs.items():
                write_atomic(directory, name, data)
                files += 1
                size += len(data)
            dfd = os.open(directory, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            jobs += 1
    print(json.dumps({"jobs": jobs, "files": files, "bytes": size, "seconds": round(time.perf_counter() - started, 3)}))


if __name__ == "__main__":
    main()
