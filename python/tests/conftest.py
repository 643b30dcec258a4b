"""Shared fixtures: the repository's root and the `tessera` command the
package is compared with.

The command is `$TESSERA_BIN` when set, else `release/tessera` under
`$CARGO_TARGET_DIR` (default: the repository's `target/`), built with cargo
if it is not there yet.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _command_path():
    if os.environ.get("TESSERA_BIN"):
        return Path(os.environ["TESSERA_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = target / "release" / "tessera"
    if not path.exists():
        subprocess.run(
            ["cargo", "build", "--release", "--locked", "-p", "tessera-cli"],
            cwd=ROOT,
            check=True,
        )
    return path


class Command:
    """Runs the `tessera` command from the repository's root."""

    def __init__(self, path):
        self.path = path

    def run(self, *args, expect=0):
        """The completed process; its exit code must be `expect`."""
        p = subprocess.run(
            [str(self.path), *map(str, args)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert p.returncode == expect, (args, p.returncode, p.stderr)
        return p

    def json(self, *args):
        """Runs the command with --json and parses what it prints."""
        return json.loads(self.run(*args, "--json").stdout)

    def error(self, *args):
        """The one message a refused command prints after `error: `."""
        stderr = self.run(*args, expect=2).stderr
        assert stderr.startswith("error: "), stderr
        return stderr[len("error: "):].rstrip("\n")


@pytest.fixture(scope="session")
def tessera_cmd():
    return Command(_command_path())


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    """Relative paths mean the same to the package and to the command."""
    monkeypatch.chdir(ROOT)
