"""What the package tests share: running a command, and the newest bundle scripts/package.sh wrote."""

import glob
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args, check=True, input=None):
    return subprocess.run(args, capture_output=True, text=True, check=check, input=input, timeout=600)


def newest_bundle(kind):
    """target/release/bundle/<kind>/*.<kind>, the newest (kind: deb or rpm)."""
    found = sorted(glob.glob(str(ROOT / f"target/release/bundle/{kind}/*.{kind}")), key=os.path.getmtime)
    assert found, f"no .{kind}: run scripts/package.sh first"
    return found[-1]
