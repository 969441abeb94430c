# One image for the three services and the `mastery` command; the command chooses what runs:
#   python -m services.attempts | python -m services.mastery | python -m services.notify
#   mastery migrate (a one-shot job, before a new version starts)
# Build from the repository's root: docker build -t mastery-gradebook .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build: the project and its locked dependencies into a virtual environment, from wheels only
# (no compiler is needed, and none reaches the runtime image).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY services ./services
COPY shared ./shared
COPY devtools ./devtools
# The runtime dependencies only: the dev extra (embedded servers, test tools) stays out.
RUN python -m venv /opt/gradebook \
    && /opt/gradebook/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/gradebook/bin/pip install --no-cache-dir --only-binary=:all: \
        --constraint requirements.lock /wheels/*.whl \
    && /opt/gradebook/bin/pip uninstall --yes pip setuptools

# Runtime: the interpreter, the virtual environment, an unprivileged user.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 gradebook \
    && useradd --system --uid 10001 --gid gradebook --no-create-home \
        --shell /usr/sbin/nologin gradebook
COPY --from=build /opt/gradebook /opt/gradebook
# Each service listens on 8000 on every interface inside its container; the health check, the
# compose file and the Kubernetes manifests rely on it.
ENV PATH=/opt/gradebook/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ATTEMPTS_HTTP_HOST=0.0.0.0 \
    ATTEMPTS_HTTP_PORT=8000 \
    MASTERY_HTTP_HOST=0.0.0.0 \
    MASTERY_HTTP_PORT=8000 \
    NOTIFY_HTTP_HOST=0.0.0.0 \
    NOTIFY_HTTP_PORT=8000
USER 10001:10001
EXPOSE 8000
# Alive: the process answers HTTP. Readiness (`/health/ready`: PostgreSQL answers and every
# worker runs) is the orchestrator's to probe, as the Kubernetes manifests do.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
CMD ["mastery", "--help"]
