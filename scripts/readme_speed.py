"""Refresh README's Speed section from benchmarks/results/benchmark.md (after run.py).

python scripts/readme_speed.py
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Put the latest table and its two headline ratios into README."""
    table = (ROOT / "benchmarks" / "results" / "benchmark.md").read_text().strip()
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\nMachine: ", readme.index("## Speed"))
    end = readme.index("\n**Where this stands.**", start)
    readme = readme[:start] + "\n" + table + "\n" + readme[end:]
    for case, label in (("grey 1024² p7 w21", "GREY"), ("colour 1024² p7 w21", "COLOUR")):
        ratio = re.search(rf"\| {re.escape(case)} \| opencv[-a-z]* \| [0-9.]+ \| ([0-9.]+x) \|",
                          table).group(1)
        readme = re.sub(rf"\*\*[0-9.]+x\*\*(?=<!-- {label} -->)", f"**{ratio}**", readme)
    (ROOT / "README.md").write_text(readme)


if __name__ == "__main__":
    main()
