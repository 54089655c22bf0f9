"""What an upload is, read from its content (`check_media`, the `filetype` package and our few checks).

Real files made with ffmpeg, and a few by hand (bench/media_types.py makes
them all and compares the answers with the sniffer the package replaced:
BENCHMARKS.md "Media types").
"""

from __future__ import annotations

from pathlib import Path

from django.test import SimpleTestCase

from providers.whatsapp import check_media

MEDIA = Path(__file__).resolve().parent.parent / "payloads" / "media"
OOXML = "application/vnd.openxmlformats-officedocument"

ACCEPTED = {
    "photo.jpg": ("image", "image/jpeg"),
    "logo.png": ("image", "image/png"),
    "sticker.webp": ("sticker", "image/webp"),
    "clip.mp4": ("video", "video/mp4"),
    "clip.3gp": ("video", "video/3gpp"),  # filetype alone says video/mp4
    "voice.ogg": ("audio", "audio/ogg"),  # Opus
    "voice.amr": ("audio", "audio/amr"),
    "voice.aac": ("audio", "audio/aac"),
    "voice.m4a": ("audio", "audio/mp4"),
    "song.mp3": ("audio", "audio/mpeg"),
    "bare.mp3": ("audio", "audio/mpeg"),  # no ID3 tag
    "document.pdf": ("document", "application/pdf"),
    "contact.vcf": ("document", "text/plain"),  # filetype knows no text: our check
    "notes.txt": ("document", "text/plain"),
    "reminder.txt": ("document", "text/plain"),  # "BM..." is a bitmap to filetype
    "report.docx": ("document", f"{OOXML}.wordprocessingml.document"),
    "sheet.xlsx": ("document", f"{OOXML}.spreadsheetml.sheet"),
    "slides.pptx": ("document", f"{OOXML}.presentationml.presentation"),
    "late.docx": ("document", f"{OOXML}.wordprocessingml.document"),  # word/ past filetype's five entries
}

# The refusal each file gets, word for word.
REFUSED = {
    "anim.gif": "'anim.gif' is image/gif by its content, which WhatsApp does not accept.",
    "music.ogg": "'music.ogg' is application/ogg by its content, which WhatsApp does not accept "
    "(OGG audio must use the OPUS codec).",
    "archive.pdf": "'archive.pdf' is application/zip by its content, which WhatsApp does not accept.",
    "random.bin": "'random.bin': its content is not a file type WhatsApp accepts.",
    # The sniffer before the package called both of these video/mp4.
    "clip.mov": "'clip.mov' is video/quicktime by its content, which WhatsApp does not accept.",
    "photo.heic": "'photo.heic' is image/heic by its content, which WhatsApp does not accept.",
}


class MediaTypeTests(SimpleTestCase):
    def test_every_sample_is_listed(self):
        self.assertEqual({path.name for path in MEDIA.iterdir()}, set(ACCEPTED) | set(REFUSED))

    def test_each_accepted_file_gets_its_kind_and_type(self):
        for name, expected in ACCEPTED.items():
            with self.subTest(name):
                data = (MEDIA / name).read_bytes()
                self.assertEqual(check_media(None, data, name), expected)
                self.assertEqual(check_media(expected[0], data, name), expected)

    def test_each_refused_file_is_told_why(self):
        for name, text in REFUSED.items():
            with self.subTest(name), self.assertRaises(ValueError) as raised:
                check_media(None, (MEDIA / name).read_bytes(), name)
            self.assertEqual(str(raised.exception), text)

    def test_a_zip_disguised_as_a_pdf_is_refused_as_a_document(self):
        with self.assertRaisesMessage(ValueError, "is application/zip by its content"):
            check_media("document", (MEDIA / "archive.pdf").read_bytes(), "archive.pdf")

    def test_an_mp4_of_another_iso_brand_is_still_an_mp4(self):
        # filetype knows MP4 by the mp41/mp42/isom brands only.
        data = b"\x00\x00\x00\x18ftypiso5\x00\x00\x02\x00iso5dash" + b"\x00" * 32
        self.assertEqual(check_media(None, data, "clip.mp4"), ("video", "video/mp4"))
