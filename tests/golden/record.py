"""Record the golden outputs of tests/golden/cases.py (run once, before a refactoring):
``python tests/golden/record.py`` from the repository root."""
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from cases import FIGURES, RUNS, SWEEPS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def cli(argv):
    out = subprocess.run([sys.executable, "-m", "dynamics", *argv], capture_output=True, text=True, check=True)
    return out.stdout


def table_digest(rows):
    """A figure's data table as its size, header and SHA-256 (the tables run to megabytes)."""
    return {"rows": len(rows), "header": rows[0], "sha256": hashlib.sha256(json.dumps(rows).encode()).hexdigest()}


def main():
    golden = {}
    for name, argv in RUNS + SWEEPS:
        golden[name] = json.loads(cli(argv))
        print(name, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, preset in FIGURES:
            data, config = os.path.join(tmp, "d.csv"), os.path.join(tmp, "c.json")
            cli(["figure", "--preset", preset, "--data-out", data, "--config-out", config])
            with open(data, newline="") as f:
                rows = list(csv.reader(f))
            with open(config) as f:
                conf = json.load(f)
            conf.pop("versions", None)
            golden[name] = {"table": table_digest(rows), "config": conf}
            print(name, flush=True)
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
