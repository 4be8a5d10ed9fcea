"""Every ```python example in docs/python-api.md runs (each in a fresh interpreter)."""
import os
import re

import pytest

from conftest import QEMU, QEMU_FORK_THREAD, ROOT, run_child

DOC = os.path.join(ROOT, "docs", "python-api.md")
BLOCKS = re.findall(r"```python\n(.*?)```", open(DOC, encoding="utf-8").read(), re.S)


def test_doc_has_examples():
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_doc_example_runs(i):
    if QEMU and "os.fork()" in BLOCKS[i]:  # the child profiles: it starts a thread
        pytest.skip(QEMU_FORK_THREAD)
    code = "import warnings; warnings.simplefilter('ignore', DeprecationWarning)\n" + BLOCKS[i]
    r = run_child(code, timeout=60)
    assert r.returncode == 0, (BLOCKS[i], r.stdout, r.stderr)
