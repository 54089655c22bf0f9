"""Media types read from content: the hand-written sniffer and the `filetype` package on the same files.

    python bench/media_types.py           # print the Markdown table of BENCHMARKS.md "Media types"
    python bench/media_types.py --make    # write tests/payloads/media/ again (ffmpeg for the audio and video)

The files: the media fixtures of the tests (tests/providers/test_whatsapp.py,
tests/messaging/test_media.py) and the made files in tests/payloads/media/
(tests/providers/test_media_types.py checks what each is now). "Old" is
`sniff_content_type` as it was at OLD_COMMIT, read from git; "new" is
providers.whatsapp.sniff_content_type now, and "filetype" the package's
own answer, before the few checks of ours that follow it. Each sniffer is
timed over REPEAT calls per file (median of five rounds, microseconds per
call); "kind" is what `check_media` answers now when no kind is asked
(refused: the start of its refusal). Office Open XML types are shortened to
"…/docx" and the like.
"""

from __future__ import annotations

import argparse
import codecs
import io
import os
import random
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "payloads" / "media"
OLD_COMMIT = "2cdd03df812c3dbd1851bdfe7eaaa3feaf13659e"  # the sniffer before the package
REPEAT = 2000

# ffmpeg's test sources, a second or less each: real containers and codecs, a few KB.
FFMPEG = {
    "photo.jpg": "-f lavfi -i testsrc=size=64x48:rate=1 -frames:v 1",
    "logo.png": "-f lavfi -i testsrc=size=64x48:rate=1 -frames:v 1",
    "anim.gif": "-f lavfi -i testsrc=size=32x24:rate=5 -t 1",
    "sticker.webp": "-f lavfi -i testsrc=size=64x64:rate=1 -frames:v 1 -c:v libwebp",
    "clip.mp4": "-f lavfi -i testsrc=size=64x48:rate=10 -f lavfi -i sine=frequency=440:sample_rate=16000 -t 1 "
    "-c:v libx264 -pix_fmt yuv420p -c:a aac -b:a 16k",
    "clip.3gp": "-f lavfi -i testsrc=size=176x144:rate=5 -f lavfi -i sine=frequency=440:sample_rate=8000 -t 0.4 "
    "-c:v h263 -b:v 16k -c:a aac -b:a 12k -ac 1",
    "clip.mov": "-f lavfi -i testsrc=size=64x48:rate=10 -t 1 -c:v libx264 -pix_fmt yuv420p",
    "voice.ogg": "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 1 -c:a libopus -b:a 12k",
    "music.ogg": "-f lavfi -i sine=frequency=440:sample_rate=22050 -t 1 -c:a vorbis -strict -2 -ac 2",
    "song.mp3": "-f lavfi -i sine=frequency=440:sample_rate=22050 -t 1 -c:a libmp3lame -b:a 32k",
    "bare.mp3": "-f lavfi -i sine=frequency=440:sample_rate=22050 -t 1 -c:a libmp3lame -b:a 32k "
    "-id3v2_version 0 -write_xing 0",
    "voice.aac": "-f lavfi -i sine=frequency=440:sample_rate=16000 -t 1 -c:a aac -b:a 16k",
    "voice.m4a": "-f lavfi -i sine=frequency=440:sample_rate=16000 -t 1 -c:a aac -b:a 16k",
}

_OOXML_PARTS = {
    "word": ("word/document.xml", "word/_rels/document.xml.rels", "word/styles.xml"),
    "xl": ("xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"),
    "ppt": ("ppt/presentation.xml", "ppt/_rels/presentation.xml.rels", "ppt/slides/slide1.xml"),
}


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _office(folder: str, *, first: tuple[str, ...] = ()) -> bytes:
    """An Office Open XML file in the order Office writes it; `first` entries go before its folder."""
    entries = [("[Content_Types].xml", b"<Types/>"), ("_rels/.rels", b"<Relationships/>")]
    entries += [(name, b"<x/>" * 20) for name in first]
    entries += [(name, b"<x/>" * 20) for name in _OOXML_PARTS[folder]]
    return _zip(entries)


def _pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def made_files() -> dict[str, bytes]:
    """The samples written by hand here (no tool needed)."""
    rng = random.Random(18)
    return {
        # AMR-NB: the magic line, then 25 frames of mode 7 (12.2 kbit/s), 20 ms each.
        "voice.amr": b"#!AMR\n" + b"".join(b"\x3c" + bytes(rng.getrandbits(8) for _ in range(31)) for _ in range(25)),
        "document.pdf": _pdf(),
        "contact.vcf": b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Sara Al-Harbi\r\nTEL;TYPE=CELL:+966501234567\r\n"
        b"EMAIL:sara@example.com\r\nEND:VCARD\r\n",
        "notes.txt": "Order 4821 is on its way.\nشكرا لطلبك\n".encode(),
        "reminder.txt": b"BMW service due on 12 March.\nBring the car by 9:00.\n",
        "report.docx": _office("word"),
        "sheet.xlsx": _office("xl"),
        "slides.pptx": _office("ppt"),
        "late.docx": _office("word", first=tuple(f"customXml/item{i}.xml" for i in range(1, 6))),
        "archive.pdf": _zip([("invoice.pdf", _pdf()), ("payload.exe", b"MZ" + bytes(200))]),
        "photo.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
        "random.bin": bytes(rng.getrandbits(8) for _ in range(4096)),
    }


def make_samples() -> None:
    SAMPLES.mkdir(exist_ok=True)
    for name, args in FFMPEG.items():
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args.split(), str(SAMPLES / name)]
        subprocess.run(command, check=True)
    for name, data in made_files().items():
        (SAMPLES / name).write_bytes(data)


def test_fixtures() -> dict[str, bytes]:
    """The media constants of the tests, by name."""
    from tests.messaging import test_media
    from tests.providers import test_whatsapp as tw

    names = "JPEG PNG PDF MP4 M4A THREE_GP OPUS VORBIS MP3 MP3_BARE AAC AMR WEBP_STATIC WEBP_ANIMATED GIF TEXT"
    fixtures = {f"test: {name}": getattr(tw, name) for name in names.split()}
    fixtures.update({f"test: {name}": getattr(tw, name) for name in ("OLE_DOC", "OLE_XLS", "OLE_PPT")})
    fixtures.update({f"test: office_zip({f!r})": tw.office_zip(f) for f in ("word", "xl", "ppt")})
    fixtures["test: test_media.WEBP_STATIC"] = test_media.WEBP_STATIC
    fixtures["test: binary junk"] = b"\x00\x01\x02\x03binary"
    return fixtures


def old_sniffer():
    """`sniff_content_type` of OLD_COMMIT: its media section, run on its own."""
    source = subprocess.run(
        ["git", "show", f"{OLD_COMMIT}:providers/whatsapp.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    section = source[source.index("_MB = 1_000_000") : source.index("def _webp_is_animated")]
    namespace: dict[str, Any] = {"codecs": codecs, "io": io, "zipfile": zipfile, "Any": Any}
    exec(compile(section, f"{OLD_COMMIT[:7]}:providers/whatsapp.py", "exec"), namespace)
    return namespace["sniff_content_type"]


def _time(function, data: bytes, name: str) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(REPEAT // 5):
            function(data, name)
        samples.append((time.perf_counter() - started) / (REPEAT // 5))
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="write tests/payloads/media/ again first")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jood.settings")
    import django

    django.setup()
    import filetype

    from providers.whatsapp import check_media, sniff_content_type

    if options.make:
        make_samples()
    files = test_fixtures()
    files.update({path.name: path.read_bytes() for path in sorted(SAMPLES.iterdir())})
    old = old_sniffer()

    print("| file | bytes | old answer | new answer | filetype alone | kind now | old µs | new µs |")
    print("|---|---:|---|---|---|---|---:|---:|")
    totals = [0.0, 0.0]
    for name, data in files.items():
        declared = name if "." in name else "upload.bin"
        before, after = old(data, declared), sniff_content_type(data, declared)
        try:
            kind = check_media(None, data, declared)[0]
        except ValueError as exc:
            kind = "refused: " + str(exc).split(" by its content")[0].split(": ", 1)[-1][:40]
        t_old, t_new = _time(old, data, declared), _time(sniff_content_type, data, declared)
        totals[0] += t_old
        totals[1] += t_new
        mark = "" if before == after else " **≠**"
        alone = filetype.guess_mime(data)
        cells = [name, f"{len(data):,}", _short(before), _short(after) + mark, _short(alone), kind]
        print("| " + " | ".join(cells) + f" | {t_old:.1f} | {t_new:.1f} |")
    print(f"| **all {len(files)}** | | | | | | {totals[0]:.0f} | {totals[1]:.0f} |")


def _short(content_type: str | None) -> str:
    for suffix, short in (("wordprocessingml.document", "docx"), ("spreadsheetml.sheet", "xlsx")):
        if content_type and content_type.endswith(suffix):
            return f"…/{short}"
    if content_type and content_type.endswith("presentationml.presentation"):
        return "…/pptx"
    return content_type or "—"


if __name__ == "__main__":
    main()
