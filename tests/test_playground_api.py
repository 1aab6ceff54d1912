"""What the playground is served and calls, through the API in process (tests/support/app.py: the real store,
embedder and records database, a scripted chat model): its files under a strict Content-Security-Policy with no
inline script and no asset from elsewhere; who the caller is (`/v1/me`); the collections it may pick; files
uploaded through the loaders `rag ingest` uses, each failure the words the CLI prints; the evaluation reports for
admins."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fpdf import FPDF
from pydantic import SecretStr
from starlette.testclient import TestClient

from evals.report import write_answers_report
from serving.routers.playground import PLAYGROUND
from tests.support.app import empty_store_api
from tests.support.cli import run_cli
from tests.support.headers import bearers
from tests.support.launcher import rag_env

KEYS = """
writer-key-000001=acme roles=writer subject=loader
reader-key-000001=acme roles=reader subject=alice groups=eng
admin-key-0000001=acme roles=admin subject=root
other-key-0000001=globex roles=writer subject=gus
"""
H = bearers({"loader": "writer-key-000001", "alice": "reader-key-000001", "root": "admin-key-0000001",
             "gus": "other-key-0000001"})  # fmt: skip


def _pdf(path: Path, text: str) -> Path:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, text)
    pdf.set_title("Pump manual")
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the app's evaluation reports (`folder / "reports"`)."""
    return tmp_path_factory.mktemp("playground-api")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[TestClient]:
    limits = {"max_upload_mb": 0.5, "ingest_max_chunks": 20}
    keys, reports = SecretStr(KEYS), folder / "reports"
    with empty_store_api(tmp_path_factory, "playground-api", api_keys=keys, reports_dir=reports, **limits) as client:
        yield client


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.assets: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
        if tag in ("script", "img") and named.get("src"):
            self.assets.append(str(named["src"]))
        if tag == "link" and named.get("href"):
            self.assets.append(str(named["href"]))
        self.inline += [f"{tag} {name}" for name in named if name == "style" or name.startswith("on")]

    def handle_data(self, data: str) -> None:
        if self.lasttag == "script" and data.strip():
            self.inline.append("script body")


def test_the_playground_is_served_from_here_under_a_strict_policy(api: TestClient) -> None:
    assert api.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
    page = api.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    parsed = _Page()
    parsed.feed(page.text)
    assert parsed.inline == []  # no inline script, handler or style attribute
    assert parsed.scripts and all(s.get("src") and s.get("type") == "module" for s in parsed.scripts)
    served = {p.name for p in PLAYGROUND.iterdir()}
    for asset in parsed.assets:
        assert "/" not in asset and asset in served  # relative, ours
        got = api.get(f"/ui/{asset}")
        assert got.status_code == 200 and got.headers["content-security-policy"] == policy
    for script in PLAYGROUND.glob("*.js"):
        imports = re.findall(r"""from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]""", script.read_text())
        assert all(a.startswith("./") or b.startswith("./") for a, b in imports), script.name  # no CDN
        assert api.get(f"/ui/{script.name}").headers["content-type"].startswith("text/javascript")
    assert api.get("/ui/nothing.js").status_code == 404
    assert api.get("/ui/config.json").json() == {"model": "rag", "collection": "docs", "auth": True, "oidc": None}


def test_me_says_who_the_caller_is(api: TestClient) -> None:
    me = api.get("/v1/me", headers=H["alice"]).json()
    assert me == {"object": "principal", "tenant": "acme", "subject": "alice", "roles": ["reader"],
                  "groups": ["eng"], "key_id": me["key_id"]} and me["key_id"]  # fmt: skip
    assert api.get("/v1/me").status_code == 401


def test_uploaded_files_go_through_the_ingest_loaders_and_fail_as_the_cli_says(
    api: TestClient, folder: Path, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _pdf(files / "manual.pdf", "The pump is primed before the first start. Check the seals monthly.")
    (files / "notes.md").write_text("# Notes\n\nThe warehouse opens at seven.")
    (files / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf\n%%EOF")
    (files / "tool.exe").write_bytes(b"MZ\x00\x00")
    (files / "rows.jsonl").write_text('{"id": "r1", "text": "first record"}\nnot json\n')
    paragraph = " ".join(f"word{i}" for i in range(150))
    (files / "long.txt").write_text("\n\n".join([paragraph] * 40))  # loaded, then refused by the sync: too long
    sent = [("files", (p.name, p.read_bytes())) for p in sorted(files.iterdir())]
    r = api.post("/v1/documents/files", files=sent, data={"collection": "manuals"}, headers=H["root"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert {d["id"] for d in body["documents"]} == {"manual.pdf", "notes.md", "rows.jsonl#r1"}
    assert body["collection"] == "manuals" and body["chunks"] >= 3 and body["documents_added"] == 3
    # the CLI given the same files by name: the same reasons, its paths where the API has the uploaded names
    named = [str(p) for p in sorted(files.iterdir())]
    cli = run_cli(
        ["ingest", *named, "--collection", "cli"], rag_env(tmp_path / "cli-store", RAG_INGEST_MAX_CHUNKS="20")
    )
    printed = sorted(line.removeprefix("rag ingest: failed: ").replace(f"{files}/", "")
                     for line in cli.stderr.splitlines() if line.startswith("rag ingest: failed: "))  # fmt: skip
    assert printed and sorted(f"{f['file']}: {f['error']}" for f in body["failed"]) == printed
    assert "long.txt: more than 20 chunks (RAG_INGEST_MAX_CHUNKS)" in printed  # the sync's refusal, by file name
    listed = api.get("/v1/documents", params={"collection": "manuals"}, headers=H["alice"]).json()
    sources = {d["id"]: d["source"] for d in listed["data"]}
    assert sources["manual.pdf"] == "upload:manual.pdf" and sources["rows.jsonl#r1"].startswith("upload:rows.jsonl")
    answer = api.post("/v1/chat/completions", headers=H["alice"], json={
        "model": "rag", "collection": "manuals", "messages": [{"role": "user", "content": "how is the pump primed?"}]
    }).json()  # fmt: skip
    pages = {c["doc_id"]: c["page"] for c in answer["citations"]}
    assert pages.get("manual.pdf") == 1  # a PDF's source says its page
    manual = [f for f in sent if f[1][0] == "manual.pdf"]
    again = api.post("/v1/documents/files", files=manual, data={"collection": "manuals"}, headers=H["root"])
    assert again.json()["documents_unchanged"] == 1  # the same file again: nothing new


def test_uploads_are_refused_to_readers_too_large_or_with_nothing_loadable(api: TestClient, tmp_path: Path) -> None:
    one = [("files", ("a.md", b"# A\n\nsome text"))]
    assert api.post("/v1/documents/files", files=one, headers=H["alice"]).status_code == 403
    big = [("files", ("big.txt", b"x" * 600_000))]
    assert api.post("/v1/documents/files", files=big, headers=H["loader"]).status_code == 413  # RAG_MAX_UPLOAD_MB
    bad = api.post("/v1/documents/files", files=[("files", ("x.exe", b"MZ"))], headers=H["loader"])
    assert bad.status_code == 400 and "failed: x.exe: unsupported file type '.exe'" in bad.json()["error"]["message"]
    twice = api.post("/v1/documents/files", files=one + one, headers=H["loader"])
    assert twice.status_code == 400 and "two uploaded files are named 'a.md'" in twice.json()["error"]["message"]


def test_collections_are_the_tenants_own(api: TestClient) -> None:
    r = api.post("/v1/documents", json={"id": "g.md", "text": "globex only"}, headers=H["gus"])
    assert r.status_code == 200
    api.post("/v1/documents", json={"id": "n.md", "text": "acme notes", "collection": "notes"}, headers=H["loader"])
    mine = {c["id"] for c in api.get("/v1/collections", headers=H["alice"]).json()["data"]}
    theirs = {c["id"]: c["chunks"] for c in api.get("/v1/collections", headers=H["gus"]).json()["data"]}
    assert "notes" in mine and "notes" not in theirs and theirs["docs"] == 1


def test_admins_read_the_latest_eval_reports_and_their_plots(api: TestClient, folder: Path) -> None:
    from rag.settings import Settings
    from tests.support.eval_results import answers_results  # a scored run, as `rag eval answers` returns one

    write_answers_report(folder / "reports" / "answers-clapnq", answers_results(Settings()))
    assert api.get("/v1/eval/reports", headers=H["alice"]).status_code == 403
    listing = api.get("/v1/eval/reports", headers=H["root"]).json()["data"]
    (report,) = listing
    assert report["name"] == "answers-clapnq" and report["images"] == ["answers.png"]
    rows = {row[0]: row[1] for row in report["tables"][0]["rows"]}
    saved = json.loads((folder / "reports" / "answers-clapnq" / "report.json").read_text())
    assert rows["token_f1"] == saved["summary"]["token_f1"]
    png = api.get("/v1/eval/reports/answers-clapnq/answers.png", headers=H["root"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    for bad in ("answers-clapnq/report.json", "..%2Fsecrets/answers.png", "nope/answers.png"):
        assert api.get(f"/v1/eval/reports/{bad}", headers=H["root"]).status_code == 404
