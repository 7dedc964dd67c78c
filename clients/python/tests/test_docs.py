"""The quick start of docs/python.md runs as written (against the test server)."""

import contextlib
import io
import json
import re

from conftest import REPO


def python_blocks(path):
    return python_blocks_of(path.read_text())


def test_docs_quick_start_runs(server):
    code = python_blocks(REPO / "docs" / "python.md")[0]
    assert "http://127.0.0.1:3000" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("http://127.0.0.1:3000", server.url), "docs/python.md", "exec"), {})
    text = out.getvalue()
    assert re.search(r"^weights \[", text, re.M) and re.search(r"^steps 1300$", text, re.M), text


def test_readme_quick_start_runs(server):
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Quick start with Python") :]
    code = python_blocks_of(section)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("http://127.0.0.1:3000", server.url), "README.md", "exec"), {})
    weights = json.loads(out.getvalue())
    assert len(weights) == 2 and len(weights[0]) == 1


def python_blocks_of(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)
