# matassets: the Dagster webserver and daemon on CPU, with the project's pinned stack.
#   docker build -t matassets .
#   docker run --rm -p 127.0.0.1:3000:3000 -v matassets-home:/dagster_home -v matassets-models:/app/models matassets
# See docs/operating.md ("Docker") for volumes, remotes and running CLI commands in the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/dagster_home \
    DAGSTER_DISABLE_TELEMETRY=1 \
    DVC_NO_ANALYTICS=1 \
    MATASSETS_APP=/app

# git: DVC and the run records' commit hash; tini: an init that forwards signals and reaps children.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tini \
    && rm -rf /var/lib/apt/lists/*

# torch first, from the PyTorch CPU index: PyPI's Linux wheel would bring ~3 GB of CUDA libraries.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /app
# Dependencies before the source, so code changes do not reinstall the stack: a stub package with
# the real pyproject resolves every pin (torch==2.13.0 is already satisfied by the CPU build).
COPY pyproject.toml README.md ./
RUN mkdir matassets && touch matassets/__init__.py \
    && pip install . \
    && pip uninstall -y matassets \
    && rm -rf matassets build

COPY . .
# Editable: the package finds its embedded data, dvc.yaml and docs beside it in /app (PROJECT_ROOT).
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 1000 matassets \
    && mkdir -p /dagster_home /app/models /app/data \
    && chown -R matassets:matassets /app /dagster_home \
    && chmod 0755 docker/entrypoint.sh

USER matassets
VOLUME ["/dagster_home"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/server_info', timeout=4)"

ENTRYPOINT ["tini", "-g", "--", "/app/docker/entrypoint.sh"]
CMD ["serve"]
