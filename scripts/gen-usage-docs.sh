#!/usr/bin/env bash
# Pastes `cashier --help` and `cashierd --help` into the command blocks of docs/CLIENT.md and
# docs/OPERATIONS.md (after their `<!-- … --help -->` markers); tests check the two match.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)"
python3 - "$bin" <<'PY'
import subprocess, sys
bin = sys.argv[1]
for doc, program in [("docs/CLIENT.md", "cashier"), ("docs/OPERATIONS.md", "cashierd")]:
    usage = subprocess.run([f"{bin}/{program}", "--help"], capture_output=True, text=True, check=True).stdout.rstrip("\n")
    lines = open(doc).read().split("\n")
    at = next(i for i, l in enumerate(lines) if f"<!-- {program} --help -->" in l)
    end = next(i for i in range(at + 2, len(lines)) if lines[i].startswith("```"))
    lines[at + 2:end] = usage.split("\n")
    open(doc, "w").write("\n".join(lines))
PY
