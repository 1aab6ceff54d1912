"""Scanned pages generated from known text, and the character error rate of what an OCR engine read from them.

A page is US Letter at a given dpi, 11 pt DejaVu Serif (Debian's `fonts-dejavu-core`, under /usr/share/fonts; where
it is missing, Pillow's default scalable font, `ImageFont.load_default(size=...)`), black on white, then degraded
the way a desk scanner degrades it: rotated by 0.5 to 1.5 degrees, Gaussian-blurred (radius 0.6 to 1.0 px) and
speckled with salt-and-pepper noise (0.2% of pixels), all drawn from a seed so that every run scans the same page.
The pages are saved as PNG, JPEG, multi-page TIFF and image-only PDF (`write_scan`). The text is fixed scientific
prose (`page_text(n)`: 150 to 250 words), so a test can assert a character error rate on a fixed set; any other
text (SciFact abstracts, say) renders the same way through `render_page`, or `render_pages` when it fills more than
one page.
"""

from __future__ import annotations

import random
import re
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
PAGE_INCHES = (8.5, 11.0)  # US Letter
MARGIN_INCHES = 1.0
FONT_POINTS = 11.0
LINE_SPACING = 1.35  # of the font size
DPIS = (150, 200, 300)

# Sentences of abstract-like prose: numbers, percentages, parentheses and hyphenated words, ASCII only (so that a
# CER measures reading, not quote styles).
SENTENCES = (
    "Regulatory T cells restrain autoimmune responses by suppressing the proliferation of effector lymphocytes.",
    "In a cohort of 1,248 adults followed for 9.6 years, higher fasting glucose predicted incident heart failure.",
    "The hazard ratio for the highest quartile was 1.34 (95% CI 1.12 to 1.61) after adjustment for age and sex.",
    "Mitochondrial fission increased within two hours of hypoxia, and inhibiting DRP1 preserved cardiac function.",
    "We sequenced 312 tumour samples and found recurrent mutations in genes that regulate chromatin remodelling.",
    "Vitamin D supplementation did not reduce the incidence of invasive cancer among older women in the trial.",
    "Microglia pruned synapses during development through a pathway that depends on complement component C3.",
    "Randomised patients received either the vaccine or a placebo, and neither the patients nor the staff knew which.",
    "The protein localised to the nuclear envelope in dividing cells but remained cytoplasmic in quiescent cells.",
    "Insulin resistance in skeletal muscle preceded the accumulation of lipids in the liver of the obese mice.",
    "Across 27 studies, the pooled odds ratio of depression after stroke was 2.10, with moderate heterogeneity.",
    "Knockdown of the transcription factor reduced the expression of 418 genes by more than half.",
    "Children who slept fewer than nine hours a night scored lower on tests of attention and working memory.",
    "The antibody neutralised all twelve viral strains tested in vitro at concentrations below 50 ng/mL.",
    "Gut bacteria metabolised dietary choline into a compound that promoted atherosclerosis in susceptible mice.",
    "Telomere length declined faster in smokers than in people who had never smoked, independent of body weight.",
    "A single dose of the drug lowered systolic blood pressure by 11 mmHg for at least 24 hours.",
    "Stem cells transplanted into the damaged retina survived for six months and formed functional connections.",
    "Loss of the receptor made neurons resistant to excitotoxic death but impaired long-term potentiation.",
    "The association between air pollution and asthma admissions was strongest on days above 30 degrees.",
    "We found no evidence that the common variant alters the risk of type 2 diabetes in European populations.",
    "Macrophages exposed to the lipid switched from an inflammatory state to one that supports tissue repair.",
    "Mortality at 30 days was 8.2% in the intervention group and 11.5% in the control group (p = 0.004).",
    "Expression of the enzyme was elevated in 64 of 80 biopsies taken from patients with pulmonary fibrosis.",
    "Exercise training for twelve weeks increased the number of capillaries per muscle fibre by 18 percent.",
    "The mutant kinase phosphorylated its substrate at a rate three times slower than the wild-type enzyme.",
    "Neither aspirin nor placebo changed the rate of cognitive decline over five years of follow-up.",
    "Single-cell profiling revealed a rare population of progenitors that expands after injury to the lung.",
    "Infants born by caesarean section carried fewer Bacteroides species during the first year of life.",
    "Blocking the checkpoint restored the cytotoxic activity of exhausted T cells isolated from the tumours.",
    "The risk of fracture rose with the cumulative dose of glucocorticoids, even at doses under 5 mg per day.",
    "Sleep deprivation raised the concentration of amyloid beta in cerebrospinal fluid by about 30 percent.",
    "Our model explained 72% of the variance in hospital admissions and was validated in an independent region.",
    "The parasite evaded the immune system by switching the surface protein it expressed every few generations.",
    "Zinc deficiency impaired wound healing, and supplementation restored the rate of closure to normal levels.",
    "Patients with the highest adherence to the diet had a 23% lower risk of major cardiovascular events.",
    "Deletion of the gene in adipose tissue protected mice from weight gain on a high-fat diet.",
    "The effect of the intervention on blood lipids disappeared within three months after it was stopped.",
    "Antibiotic use in the first two years of life was associated with a higher body mass index at age seven.",
    "Levels of the cytokine IL-6 correlated with the severity of symptoms in hospitalised patients (r = 0.58).",
    "Chronic stress shortened the dendrites of neurons in the prefrontal cortex of adult rats.",
    "The screening programme detected 1.9 additional cancers per 1,000 women without raising the recall rate.",
    "Bone marrow cells migrated to the infarcted heart but did not differentiate into cardiomyocytes.",
    "Resistance to the antiviral emerged in 4 of 37 patients, all of whom carried the same substitution.",
    "The half-life of the compound in plasma was 6.5 hours, supporting a twice-daily dosing schedule.",
    "Lower socioeconomic status was linked to shorter life expectancy in every country we examined.",
    "Autophagy removed damaged mitochondria and protected the cells from oxidative stress.",
    "We observed a dose-response relationship between alcohol intake and the risk of atrial fibrillation.",
)


def page_text(n: int) -> str:
    """Page `n`'s fixed text: three paragraphs of two to four sentences (150 to 250 words), blank-line separated."""
    rng = random.Random(1000 + n)
    order = rng.sample(range(len(SENTENCES)), len(SENTENCES))
    paragraphs, at = [], 0
    for _ in range(3):
        size = rng.randint(2, 4)
        paragraphs.append(" ".join(SENTENCES[i] for i in order[at : at + size]))
        at += size
    while len(" ".join(paragraphs).split()) < 150:  # a short draw takes one more sentence
        paragraphs[-1] += " " + SENTENCES[order[at]]
        at += 1
    return "\n\n".join(paragraphs)


def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Serif at `size_px` pixels, or Pillow's default scalable font where DejaVu is not installed."""
    for path in FONT_PATHS:
        if path.exists():
            return ImageFont.truetype(str(path), size_px)
    return ImageFont.load_default(size=size_px)


def _wrap(text: str, face: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """`text`'s lines at `width` pixels (no hyphenation), a paragraph break as one empty line."""
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        if lines:
            lines.append("")
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and face.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def clean_pages(text: str, dpi: int, *, title: str = "") -> list[Image.Image]:
    """`text` (under a title set larger, when given) typeset on as many white grayscale Letter pages at `dpi` as it
    fills."""
    width, height = int(PAGE_INCHES[0] * dpi), int(PAGE_INCHES[1] * dpi)
    margin = int(MARGIN_INCHES * dpi)
    size = round(FONT_POINTS / 72 * dpi)
    face, step = font(size), round(size * LINE_SPACING)
    heading, heading_step = font(round(size * 1.3)), round(step * 1.3)
    lines = [(line, heading, heading_step) for line in _wrap(title, heading, width - 2 * margin)] if title else []
    if title:
        lines.append(("", face, step))
    lines += [(line, face, step) for line in _wrap(text, face, width - 2 * margin)]
    pages: list[Image.Image] = []
    y = height
    for line, line_face, line_step in lines:
        if y + line_step > height - margin:
            if not line:  # a page does not start with a blank line
                continue
            pages.append(Image.new("L", (width, height), 255))
            draw, y = ImageDraw.Draw(pages[-1]), margin
        draw.text((margin, y), line, font=line_face, fill=0)
        y += line_step
    return pages


def clean_page(text: str, dpi: int, *, title: str = "") -> Image.Image:
    """`text` typeset on one white grayscale Letter page at `dpi`; ValueError when it does not fit on one."""
    pages = clean_pages(text, dpi, title=title)
    if len(pages) != 1:
        raise ValueError(f"the text fills {len(pages)} pages at {dpi} dpi, not one")
    return pages[0]


def clean_two_column_page(left: str, right: str, dpi: int) -> Image.Image:
    """`left` and `right` typeset side by side in two columns (10 pt, a 0.3 inch gutter) on a white Letter page."""
    width, height = int(PAGE_INCHES[0] * dpi), int(PAGE_INCHES[1] * dpi)
    margin, gutter = int(MARGIN_INCHES * dpi), int(0.3 * dpi)
    column = (width - 2 * margin - gutter) // 2
    face = font(round(10 / 72 * dpi))
    step = round(10 / 72 * dpi * LINE_SPACING)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    for x, text in ((margin, left), (margin + column + gutter, right)):
        lines = _wrap(text, face, column)
        if margin + step * len(lines) > height - margin:
            raise ValueError(f"a column does not fit on one page at {dpi} dpi")
        for n, line in enumerate(lines):
            draw.text((x, margin + n * step), line, font=face, fill=0)
    return page


def degrade(page: Image.Image, seed: int) -> Image.Image:
    """`page` as a scanner returns it: rotated 0.5 to 1.5 degrees either way, blurred (radius 0.6 to 1.0 px),
    0.2% of its pixels flipped to black or white; the same for the same seed."""
    rng = random.Random(seed)
    angle = rng.uniform(0.5, 1.5) * rng.choice((-1, 1))
    rotated = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    blurred = rotated.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.6, 1.0)))
    pixels = np.array(blurred)
    noise = np.random.default_rng(seed).random(pixels.shape)
    pixels[noise < 0.001] = 0
    pixels[noise > 0.999] = 255
    return Image.fromarray(pixels, mode="L")


def render_page(text: str, dpi: int, *, seed: int = 0, title: str = "") -> Image.Image:
    """`text` as a one-page degraded scan at `dpi` (`clean_page` then `degrade`)."""
    return degrade(clean_page(text, dpi, title=title), seed)


def render_pages(text: str, dpi: int, *, seed: int = 0, title: str = "") -> list[Image.Image]:
    """`text` as a degraded scan of as many pages as it fills at `dpi` (page i degraded with seed + i)."""
    return [degrade(page, seed + i) for i, page in enumerate(clean_pages(text, dpi, title=title))]


def scanned_pages(numbers: Sequence[int], dpi: int) -> list[tuple[str, Image.Image]]:
    """(text, degraded scan) of each fixed page in `numbers` at `dpi`, seeded by the page number and the dpi."""
    return [(page_text(n), render_page(page_text(n), dpi, seed=n * 1000 + dpi)) for n in numbers]


def write_scan(path: Path, images: Sequence[Image.Image], dpi: int) -> Path:
    """`images` saved by `path`'s suffix: .png or .jpg (one page), .tif/.tiff (multi-page TIFF, deflated) or .pdf
    (image-only: one JPEG per page, no text layer), with `dpi` recorded in the file."""
    suffix = path.suffix.lower()
    first, rest = images[0], list(images[1:])
    if suffix in (".png", ".jpg", ".jpeg"):
        if rest:
            raise ValueError(f"a {suffix} holds one page")
        if suffix == ".png":
            first.save(path, dpi=(dpi, dpi))
        else:
            first.save(path, dpi=(dpi, dpi), quality=90)
    elif suffix in (".tif", ".tiff"):
        first.save(path, save_all=True, append_images=rest, compression="tiff_adobe_deflate", dpi=(dpi, dpi))
    elif suffix == ".pdf":
        first.save(path, save_all=True, append_images=rest, resolution=float(dpi), quality=90)
    else:
        raise ValueError(f"no scan format for {suffix}")
    return path


def normalize(text: str) -> str:
    """`text` with every run of whitespace one space, trimmed: line breaks are layout, not content."""
    return re.sub(r"\s+", " ", text).strip()


def levenshtein(a: str, b: str) -> int:
    """The edit distance (insertions, deletions, substitutions) between `a` and `b`, one row at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: the edit distance from `reference` to `hypothesis`, both whitespace-normalized, over
    the reference's length."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    return levenshtein(ref, hyp) / max(1, len(ref))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A valid 1-bit grayscale PNG of `width` x `height` black pixels (every bit zero): 112 MB to decode at
    30,000 x 30,000 (900 MB as 8-bit grayscale, 2.7 GB as RGB), ~110 KB on disk, written in pieces."""
    row = 1 + (width + 7) // 8  # the filter byte, then the packed bits
    compressor = zlib.compressobj(9)
    parts = []
    rows_per_piece = max(1, 1_000_000 // row)
    for start in range(0, height, rows_per_piece):
        parts.append(compressor.compress(bytes(row * min(rows_per_piece, height - start))))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, grayscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )
    return path


def many_page_tiff(path: Path, pages: int) -> Path:
    """A valid TIFF of `pages` 1 x 1 black pages, each an IFD of its own sharing one pixel byte: ~100 bytes a page
    (10,000 pages in 1 MB, written in milliseconds)."""
    entries = (  # tag, type (3 = SHORT, 4 = LONG), value; StripOffsets is filled in below
        (256, 4, 1),  # ImageWidth
        (257, 4, 1),  # ImageLength
        (258, 3, 8),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 0),  # StripOffsets
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, 1),  # RowsPerStrip
        (279, 4, 1),  # StripByteCounts
    )
    ifd_size = 2 + 12 * len(entries) + 4
    pixel_at = 8
    first_ifd = pixel_at + 2  # word-aligned after the pixel byte
    out = bytearray(b"II*\x00" + struct.pack("<I", first_ifd) + b"\x00\x00")
    for page in range(pages):
        at = first_ifd + page * ifd_size
        out += struct.pack("<H", len(entries))
        for tag, kind, value in entries:
            value = pixel_at if tag == 273 else value
            packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
            out += struct.pack("<HHI", tag, kind, 1) + packed
        out += struct.pack("<I", at + ifd_size if page + 1 < pages else 0)
    path.write_bytes(bytes(out))
    return path
