"""This directory's README describes the suite as it is."""
import glob
import os
import re

HERE = os.path.dirname(__file__)


def test_the_readme_table_names_every_module():
    with open(os.path.join(HERE, "README.md")) as f:
        listed = re.findall(r"^\| `(test_\w+\.py)` \|", f.read(), re.MULTILINE)
    modules = sorted(os.path.basename(p) for p in glob.glob(os.path.join(HERE, "test_*.py")))
    assert sorted(listed) == modules
