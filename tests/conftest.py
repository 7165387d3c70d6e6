import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the SimPy reference model lives in benchmarks/, and tests/ holds shared helpers
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
