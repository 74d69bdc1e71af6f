#!/usr/bin/env bash
# Recognizer training on a lent GPU machine (training/README.md, "On a GPU machine").
#
#   here:    .venv/bin/python -m training.gpu_bundle .gpu/      # fonts, corpora, real crops
#   there:   bash scripts/gpu_train.sh MINUTES OUT              # carry .gpu/{fonts.tar.xz,data.tar.xz,real_lines.pkl,whl}
#
# That machine has PyTorch, Pillow and OpenCV but none of the fonts, corpora or real sets, nor OpenCC
# (python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .gpu/whl opencc),
# and its CPUs draw the lines: a data worker per core, less two for the training loop. It starts from the shipped
# weights (models/), trains MINUTES with a cosine schedule, and leaves in OUT the weights
# the run exported (when they beat the card's score on the validation it can build there)
# and the last weights in fp32 (last_model.pt), for a full validation back here.
set -uo pipefail
minutes=${1:-6}
out=${2:-/tmp/gpu-out}
mkdir -p "$out" /usr/share/fonts training/data
tar -xJf .gpu/fonts.tar.xz -C /usr/share/fonts
tar -xJf .gpu/data.tar.xz -C training/data
export OCR_REAL_LINES=$PWD/.gpu/real_lines.pkl PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
# wheels the machine lacks (OpenCC for the Traditional lines), carried in .gpu/whl
if compgen -G ".gpu/whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
workers=$(( $(nproc --all) - 2 ))  # --all: nproc obeys OMP_NUM_THREADS
python3 -m training.train_crnn --lang mix --minutes "$minutes" --val-minutes 1.5 --anneal \
    --lr "${LR:-4e-4}" --reset-lr --batch-size "${BATCH:-128}" --workers "$workers" --threads 2 \
    --run-dir /tmp/crnn-run 2>&1 | grep -v "Location '" | tee "$out/train.log"
python3 - "$out" <<'EOF'
import sys, torch
state = torch.load("/tmp/crnn-run/last.pt", map_location="cpu", weights_only=False)
torch.save({"model": state["model"], "step": state["step"], "lines": state["lines"], "seconds": state["seconds"]},
           f"{sys.argv[1]}/last_model.pt")
EOF
cp models/crnn_mix.json models/crnn_mix.safetensors "$out/"
