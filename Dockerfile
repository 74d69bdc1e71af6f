# The image both the API and the workers run (docker-compose.yml). CPU-only PyTorch by default;
# the GPU workers' image (compose profile "gpu") is built with --build-arg TORCH_INDEX=<a CUDA index>,
# e.g. https://download.pytorch.org/whl/cu128: the CUDA wheel brings its CUDA libraries, the host's
# NVIDIA driver comes in through the NVIDIA container runtime.
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# poppler rasterises PDFs; the CJK fonts draw the text layer of searchable PDFs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends poppler-utils fonts-wqy-microhei fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch alone and first, pinned, from the CPU index unless TORCH_INDEX names a CUDA one: the
# default wheel drags in GBs of CUDA.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"
# The API's and the worker's dependencies at the locked versions, in a layer of their own that
# only pyproject.toml and the lock invalidate: the project's metadata is all pip needs for them.
COPY pyproject.toml requirements.lock ./
RUN pip install -c requirements.lock -e '.[server,worker]'

COPY . .
# Again, now with the code: editable, so it (and models/) stays under /app, where core.settings
# looks for it.
RUN pip install --no-deps -e . \
    && useradd --system --home-dir /app ocr \
    && mkdir -p /data && chown ocr /data
# The ONNX graphs the workers run on the CPU (OCR_RUNTIME=auto), exported from models/ now, named by
# the weights' hash (pipeline/onnx_models.py): a worker starts without importing torch.
ENV OCR_MODEL_CACHE=/app/var/model-cache
RUN python -m pipeline.export_onnx

USER ocr
ENV OCR_DATA_DIR=/data \
    OCR_API_HOST=0.0.0.0 \
    OCR_API_PORT=8000
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--timeout", "120", "api.app:create_app()"]
