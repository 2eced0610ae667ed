#!/usr/bin/env python3
"""The engine's layer check: no module imports one from a higher layer.

The layers are the fenced block after "## Engine layers" in ARCHITECTURE.md, one layer per line from the
top down, each line `name: module module ...`. A module may use modules on lower lines only (not its own
line's neighbours, so no two modules can import each other). References are read from the source as
text: `use crate::x`, `crate::x::…` anywhere, `use crate::{x, y}`, and `super::` paths that leave the
module. Unit-test code (a `#[cfg(test)]` item and what follows it in a file, and `tests.rs` files) is
left out: tests may reach across layers. Run with no arguments; exits 1 and names each wrong import.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src-tauri" / "engine" / "src"


def layers():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    m = re.search(r"## Engine layers\n.*?```\n(.*?)```", text, re.S)
    if not m:
        sys.exit("ARCHITECTURE.md has no '## Engine layers' block")
    order = {}
    lines = [l for l in m.group(1).splitlines() if l.strip()]
    for height, line in enumerate(reversed(lines)):
        _, _, mods = line.partition(":")
        for mod in mods.split():
            order[mod] = height
    return order


def module_path(path):
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts  # [] for lib.rs? lib.rs -> ["lib"]


def without_tests(text):
    m = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*(pub\s+)?mod\s+\w+", text, re.M)
    return text[: m.start()] if m else text


def references(path):
    text = without_tests(path.read_text())
    # Drop comments (doc links name modules without importing them).
    text = re.sub(r"//[^\n]*", "", text)
    found = set()
    for m in re.finditer(r"(?<![\w$])crate::(\w+)", text):
        found.add(m.group(1))
    for m in re.finditer(r"(?<![\w$])crate::\{([^}]*)\}", text):
        for item in m.group(1).split(","):
            name = item.strip().split("::")[0].strip()
            if name:
                found.add(name)
    here = module_path(path)
    for m in re.finditer(r"(?<![\w$])((?:super::)+)(\w+)", text):
        ups = m.group(1).count("super::")
        target = here[: len(here) - ups]
        if not target:
            found.add(m.group(2))
    return found


def crate_modules():
    """Top-level modules of the crate (files and folders), to tell them from macros and items."""
    return ({p.stem for p in SRC.glob("*.rs")} | {p.name for p in SRC.iterdir() if p.is_dir()}) - {"lib", "bin"}


def main():
    order = layers()
    modules = crate_modules()
    problems = [f"module {m} is in no line of ARCHITECTURE.md's '## Engine layers'" for m in sorted(modules - set(order))]
    for path in sorted(SRC.rglob("*.rs")):
        if path.name == "tests.rs":
            continue
        top = module_path(path)[0]
        if top not in order:
            continue
        for used in sorted(references(path) & set(order)):
            if used != top and order[used] >= order[top]:
                where = "the same layer" if order[used] == order[top] else "a higher layer"
                problems.append(f"{path.relative_to(ROOT)}: {top} uses {used}, which is in {where}")
    for p in problems:
        print(p)
    print(f"layer check: {len(modules)} modules in {len(set(order.values()))} layers, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
