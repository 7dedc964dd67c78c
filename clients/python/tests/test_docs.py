"""The quick start of docs/python.md runs as written (against the test server)."""

import contextlib
import io
import re

from conftest import REPO


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_docs_quick_start_runs(server):
    code = python_blocks(REPO / "docs" / "python.md")[0]
    assert "http://127.0.0.1:3000" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("http://127.0.0.1:3000", server.url), "docs/python.md", "exec"), {})
    text = out.getvalue()
    assert re.search(r"^weights \[", text, re.M) and re.search(r"^steps 1300$", text, re.M), text
