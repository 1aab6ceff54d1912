"""The `rag` command run in this process (`rag_cli.main.main`), for the tests where the process itself is not
what is tested: the environment a `rag` subprocess would get (`rag_env`) in place for the call, its stdout, stderr
and log lines captured, its exit code returned, as `run_rag` returns them from a subprocess. The models and
libraries the command loads stay loaded for the next one, which is the point: a subprocess pays for them each time.

Where the process is what is tested (signals, a killed or exiting process, a port it binds, a lock another process
holds, an interpreter's own environment such as its thread count), `tests/support/launcher.py` starts a real one."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from unittest import mock

from rag_cli.main import main

# The format `rag_cli.main` gives its log lines on stderr (its own handler is not installed under pytest, whose
# log capture already holds the root logger).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class CliResult:
    """A finished command: what `subprocess.CompletedProcess` tells of one."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """`env` as the whole of os.environ for the call, as a subprocess would see it; os.environ restored after."""
    with mock.patch.dict(os.environ, env, clear=True):
        yield


def run_cli(args: list[str], env: dict[str, str]) -> CliResult:
    """`rag ARGS` in this process, in the environment `env` (see `rag_env`): its exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    before = list(root.handlers)
    root.addHandler(handler)
    try:
        with _environment(env), redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exit_:  # argparse's usage errors, as the console script exits
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        for added in [h for h in root.handlers if h not in before]:
            root.removeHandler(added)  # ours, and any `basicConfig` set up on the redirected stderr
    return CliResult(["rag", *args], code, out.getvalue(), err.getvalue())
