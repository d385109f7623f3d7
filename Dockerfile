# syntax=docker/dockerfile:1
# Purpose-Agent: one image for the API (`serve`, the default), the worker (`worker`) and the
# migrations (`migrate`), chosen by the command. docs/DEPLOYMENT.md tells how to build and run it.
#
#   podman build --format docker -t purpose-agent .        (docker build -t purpose-agent . alike)
#   podman run --rm -e DATABASE_URL=... purpose-agent migrate
#
# The production image carries the core dependencies only: no embedded database, no built-in local
# model, no cloud secrets SDK. Add extras with --build-arg EXTRAS=local-model,vault (see pyproject.toml).

# An official Python 3.11 slim image; the tests pass a local Debian bookworm one (scripts/
# container-base-image.sh), whose python3 is 3.11 too. Both stages must use the same base.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
# uv installs into the image's virtual environment: the same packages as pip, downloaded in parallel.
RUN python3 -m venv /opt/venv /opt/tools
WORKDIR /src
# Wheels that are not on the index (llama-cpp-python for the local-model extra), if any were put here.
COPY deploy/wheels/ /wheels/
COPY pyproject.toml README.md ./
# The dependencies first, in a layer of their own that a change of the code alone does not rebuild:
# the project is installed with an empty package, then again with the code and no dependencies.
# A CA bundle given as the build secret `cacert` (a proxy's, a company's) is trusted by pip and uv and
# never lands in a layer: podman build --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=cacert \
    set -eu; \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/tools/bin/pip install --quiet "uv>=0.8,<1"; \
    mkdir -p src/purpose_agent && touch src/purpose_agent/__init__.py; \
    /opt/tools/bin/uv pip install --quiet --python /opt/venv/bin/python --find-links /wheels \
      ".${EXTRAS:+[$EXTRAS]}"
COPY src/ src/
RUN --mount=type=secret,id=cacert \
    set -eu; \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/tools/bin/uv pip install --quiet --python /opt/venv/bin/python --no-deps --reinstall .; \
    rm -rf /opt/venv/bin/pip* /opt/venv/lib/python3*/site-packages/pip

FROM ${BASE_IMAGE} AS runtime
ARG EXTRAS=""
# llama.cpp (the local-model extra) needs the OpenMP runtime; nothing else needs a system package.
RUN case ",${EXTRAS}," in \
      *,local-model,*|*,all,*) apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libgomp1 \
        && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin;; \
    esac
# A user of its own, without a shell or a home of its own: state lives only under /data, a volume.
RUN groupadd --gid 10001 purpose-agent \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin purpose-agent \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config/ config/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/data \
    DATA_DIR=/data \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    PERSONAS_FILE=/app/config/personas.json
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000
# Liveness: the process answers (no dependency is called). Readiness is /health/ready, for the
# orchestrator's probe. python, not curl: the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=2)"]
ENTRYPOINT ["purpose-agent"]
CMD ["serve"]
