"""Peak memory of `rag ingest` over a folder of hostile files, each of which must be reported, not loaded:

- a DOCX holding a part of zeros that inflates to 1 GiB, and one whose text inflates to ~59 MB;
- a tiny PDF whose page tree shares its kids (16^4 = 65,536 pages), and one whose content stream inflates to 1 GiB;
- a 200 MB JSON Lines file of records over the record limit, a JSONL holding one 59 MB record, a CSV with a 59 MB
  field;
- plus one ordinary document, so the run also shows that the job goes on.

    .venv/bin/python -m benchmarks.ingest_bombs [--scale 1.0]

Prints one line per file (its size on disk, reported or ingested, and why) and the peak RSS of the `rag ingest`
process (wait4), and writes benchmarks/results/ingest_bombs.json (each file's `bytes` too). The makers are shared
with tests/test_ingest_limits.py (small sizes).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import docx

ROOT = Path(__file__).resolve().parent.parent
RAG = str(Path(sys.executable).parent / "rag")
MB = 1_000_000


def _docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("A small document.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _rezip(path: Path, replace: dict[str, bytes], add: dict[str, int]) -> None:
    """A copy of a small DOCX with parts replaced, and parts of `n` zero bytes added (written in pieces)."""
    with zipfile.ZipFile(io.BytesIO(_docx_bytes())) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, replace.get(info.filename, src.read(info.filename)))
        for name, size in add.items():
            with out.open(name, "w", force_zip64=True) as part:
                piece = bytes(MB)
                for _ in range(size // MB):
                    part.write(piece)


def zero_part_docx(path: Path, part_bytes: int) -> Path:
    """A valid DOCX plus a media part of zeros (deflated ~1000x)."""
    _rezip(path, {}, {"word/media/zeros.bin": part_bytes})
    return path


def text_bomb_docx(path: Path, text_chars: int) -> Path:
    """A DOCX whose document.xml repeats one paragraph until the text holds `text_chars` characters."""
    paragraph = "<w:p><w:r><w:t>" + "lorem ipsum " * 40 + "</w:t></w:r></w:p>"
    count = max(1, text_chars // (12 * 40))
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + paragraph * count
        + "</w:body></w:document>"
    )
    _rezip(path, {"word/document.xml": body.encode()}, {})
    return path


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF of `objects` (object i+1 is objects[i]) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(contents: int, font: int) -> bytes:
    return b"<< /Type /Page /MediaBox [0 0 612 792] /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> >> >>" % (
        contents,
        font,
    )


def shared_kids_pdf(path: Path, fanout: int = 16, levels: int = 4) -> Path:
    """A PDF of a few objects whose page tree nodes share their kids: fanout**levels pages."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(levels):  # objects 2 .. levels+1: /Pages nodes, each listing the next one `fanout` times
        kid = 3 + level
        count = fanout ** (levels - level)
        objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join([b"%d 0 R" % kid] * fanout), count))
    page, contents, font = levels + 2, levels + 3, levels + 4
    assert len(objects) + 1 == page
    stream = b"BT /F1 12 Tf 72 720 Td (one of many pages) Tj ET"
    objects += [_page(contents, font), b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream), _FONT]
    path.write_bytes(_pdf(objects))
    return path


def inflating_pdf(path: Path, inflated_bytes: int) -> Path:
    """A one-page PDF whose content stream inflates to `inflated_bytes` (spaces: valid, empty content)."""
    compressor = zlib.compressobj(9)
    piece = b" " * MB
    data = b"".join(compressor.compress(piece) for _ in range(inflated_bytes // MB)) + compressor.flush()
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        _page(4, 5),
        stream,
        _FONT,
    ]
    path.write_bytes(_pdf(objects))
    return path


def oversized_records_jsonl(path: Path, total_bytes: int, record_bytes: int) -> Path:
    """JSON Lines of records of `record_bytes` each (over the record limit), `total_bytes` in all."""
    text = "x" * (record_bytes - 40)
    with path.open("wb") as f:
        for i in range(max(1, total_bytes // record_bytes)):
            f.write((json.dumps({"id": f"r{i}", "text": text}) + "\n").encode())
    return path


def one_record_jsonl(path: Path, text_chars: int) -> Path:
    path.write_text(json.dumps({"id": "huge", "text": "lorem ipsum " * (text_chars // 12)}) + "\n")
    return path


def huge_field_csv(path: Path, field_chars: int) -> Path:
    path.write_text("id,text\nsmall,a fine row\nhuge," + "y" * field_chars + "\nlast,another fine row\n")
    return path


def bomb_folder(folder: Path, scale: float = 1.0) -> dict[str, str]:
    """The hostile files (sizes times `scale`) and one good document; file name -> what it is."""
    folder.mkdir(parents=True, exist_ok=True)
    gib = int(1024**3 * scale) // MB * MB
    made = {
        "zero-part.docx": (zero_part_docx(folder / "zero-part.docx", gib), "DOCX with a part of zeros"),
        "text-bomb.docx": (text_bomb_docx(folder / "text-bomb.docx", int(59 * MB * scale)), "DOCX, text bomb"),
        "pages.pdf": (shared_kids_pdf(folder / "pages.pdf"), "PDF, 65,536 pages from shared kids"),
        "inflating.pdf": (inflating_pdf(folder / "inflating.pdf", gib), "PDF stream inflating to 1 GiB"),
        "records.jsonl": (
            oversized_records_jsonl(folder / "records.jsonl", int(200 * MB * scale), int(10 * MB * scale)),
            "200 MB JSONL of oversized records",
        ),
        "one-record.jsonl": (one_record_jsonl(folder / "one-record.jsonl", int(59 * MB * scale)), "one 59 MB record"),
        "huge-field.csv": (huge_field_csv(folder / "huge-field.csv", int(59 * MB * scale)), "CSV with a 59 MB field"),
    }
    (folder / "good.md").write_text("# A good document\n\nIt is ingested while the bombs around it are refused.\n")
    return {name: what for name, (_, what) in made.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="sizes of the bombs, relative to the issue's")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_bombs.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bombs"
        made = time.perf_counter()
        kinds = bomb_folder(folder, args.scale)
        print(f"made {len(kinds)} hostile files in {time.perf_counter() - made:.0f} s:")
        sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
        for name, size in sizes.items():
            print(f"  {name:18} {size / MB:9.2f} MB on disk ({size:,} bytes)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_CACHE_DIR"}
        env |= {"HF_HUB_OFFLINE": "1", "RAG_QDRANT_PATH": str(Path(tmp) / "store")}
        started = time.perf_counter()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = subprocess.Popen([RAG, "ingest", str(folder), "--json"], env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            out.seek(0)
            summary = json.loads(out.read().decode())
    failed = {Path(f["path"].split("#")[0].rsplit(":", 1)[0]).name: f["error"] for f in summary["failed"]}
    rows = [
        {"file": name, "what": what, "bytes": sizes[name], "reported": failed.get(name, "")}
        for name, what in kinds.items()
    ]
    peak = usage.ru_maxrss / 1024
    print("\n| file | what | reported as |\n|---|---|---|")
    for row in rows:
        print(f"| {row['file']} | {row['what']} | {row['reported'] or 'NOT REPORTED'} |")
    print(
        f"\nrag ingest: exit {os.waitstatus_to_exitcode(status)}, {summary['documents_added']} added, "
        f"{len(summary['failed'])} failures, {wall:.1f} s wall, peak RSS {peak:.0f} MiB"
    )
    result = {
        "scale": args.scale,
        "exit_code": os.waitstatus_to_exitcode(status),
        "peak_rss_mib": round(peak, 1),
        "wall_s": round(wall, 1),
        "documents_added": summary["documents_added"],
        "failures": summary["failed"],
        "bombs": rows,
        "all_reported": all(r["reported"] for r in rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
