"""The playground's first token in a real browser: how long after the API's first SSE event reaches the page the
first token is on screen, over 20 questions (target: 50 ms p50). The measurement is the browser test's own
(tests/test_playground_browser.py `test_the_first_token_shows_soon_after_the_first_sse_event`: Debian's chromium,
a real `rag serve` with the in-process model, Performance marks set by serving/playground/chat.js); this runs it
alone, prints a table and keeps its figures.

    .venv/bin/python -m benchmarks.playground

Writes benchmarks/results/playground.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/test_playground_browser.py::test_the_first_token_shows_soon_after_the_first_sse_event"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rag-playground-bench-") as out:
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=ROOT,
                             env={**os.environ, "RAG_TEST_OUTPUT": out}, check=False)  # fmt: skip
        if run.returncode != 0:
            sys.exit(f"the browser test failed (exit {run.returncode})")
        result = json.loads((Path(out) / "playground" / "first-token.json").read_text())
    print(f"\n{'questions':>9} {'p50 ms':>8} {'max ms':>8} {'target p50 ms':>14}")
    print(f"{result['questions']:>9} {result['first_token_after_first_sse_event_ms_p50']:>8} {result['max_ms']:>8} "
          f"{result['target_ms_p50']:>14}")  # fmt: skip
    target = ROOT / "benchmarks" / "results" / "playground.json"
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
