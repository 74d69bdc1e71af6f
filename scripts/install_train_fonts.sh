#!/usr/bin/env bash
# Latin faces the recognizer's training lines are drawn with besides the base fonts
# (training/fonts.py:TRAIN_FONT_PACKAGES), and the spelling dictionary the language
# model's lexicon is built from (wamerican: training/build_charlm.py). Training only:
# the product and its tests never need them (the lexicon ships inside models/charlm.npz),
# and validation sets never use them. Packages missing from the mirror are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t pkgs < <(python3 -c 'import ast,sys
t=ast.parse(open("training/fonts.py").read())
for n in ast.walk(t):
    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "TRAIN_FONT_PACKAGES":
        print("\n".join(ast.literal_eval(n.value)))'; echo wamerican)
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
available=()
for p in "${pkgs[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then available+=("$p"); else echo "skip $p (not in the mirror)"; fi
done
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${available[@]}"
