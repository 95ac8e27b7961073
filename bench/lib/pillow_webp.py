"""The approach storectl replaces: image by image with Pillow, as the one-off script did.

Usage: python3 pillow_webp.py OUTDIR FILE...   (prints one JSON line of totals)
"""
import io
import json
import os
import sys

from PIL import Image, ImageOps

MAX_SIDE = 1024
MAX_BYTES = 500 * 1024
QUALITIES = (85, 75, 60, 50, 40)


def compress(path):
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGB", im.size, (255, 255, 255))
            bg.paste(im, mask=im.split()[-1])
            im = bg
        elif im.mode != "RGB":
            im = im.convert("RGB")
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
        for q in QUALITIES:
            buf = io.BytesIO()
            im.save(buf, "WEBP", quality=q)
            data = buf.getvalue()
            if len(data) <= MAX_BYTES:
                break
        return data


def main():
    out, files = sys.argv[1], sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    before = after = 0
    for f in files:
        data = compress(f)
        before += os.path.getsize(f)
        after += len(data)
        with open(os.path.join(out, os.path.basename(f) + ".webp"), "wb") as fh:
            fh.write(data)
    print(json.dumps({"images": len(files), "bytesBefore": before, "bytesAfter": after}))


if __name__ == "__main__":
    main()
