import re
from pathlib import Path

from nlmeans_cli.formulation import AFFINITIES
from nlmeans_cli.parameters import DEFAULTS_2D, DEFAULTS_3D, DEFAULTS_CLIP

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_default_table_matches_the_code():
    row = r"^\| (?:up to [\d.]+|above) \| (\w+) \| (\d+) \| (\d+) \| ([\d.]+) sigma \|$"
    rows = re.findall(row, README, flags=re.MULTILINE)
    # The images' table, the clips', then the volumes'.
    expected = [(r.patch_kernel, str(r.patch_size), str(r.search_window), f"{r.h_factor:.2f}")
                for r in (*DEFAULTS_2D, *DEFAULTS_CLIP, *DEFAULTS_3D)]
    assert rows == expected


def test_readme_documents_every_affinity():
    for name in AFFINITIES:
        assert f"`{name}`" in README


def test_readme_has_the_test_command_that_ci_runs():
    marker = README.index("<!-- ci: test command -->")
    assert "pip install '.[test]' && pytest" in README[marker:marker + 80]
