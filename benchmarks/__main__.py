"""Run every benchmark script in this folder, one after another, each in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = 0
    for script in sorted(here.glob("bench_*.py")):
        name = f"benchmarks.{script.stem}"
        print(f"\n=== {name} ===", flush=True)
        failed += subprocess.call([sys.executable, "-m", name, *sys.argv[1:]], cwd=here.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
