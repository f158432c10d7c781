# One image for every Mission Pulse service: `mission-pulse ingest | scorer | api | sink | simulate`.

# Build stage: the scorer's pure core compiled with mypyc (services/native.py), so that the image runs what
# `make bench` measured, not the slower interpreted sources. The compiler and mypy stay in this stage.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services/__init__.py services/
RUN pip install -e '.[rocksdb,native]'
COPY services services
# the build fails rather than ship an image that would run the interpreted core
RUN python services/native.py build \
    && python -c "import sys; from services import native; sys.exit(int(native.missing()))"

# Build stage: the compiled fold (services/fold_core, Rust with PyO3) as a wheel, built by maturin with the
# toolchain of the official Rust image; only the wheel leaves this stage (docs/compiled-core.md).
FROM python:3.11-slim AS core
COPY --from=rust:1-slim-bookworm /usr/local/cargo /usr/local/cargo
COPY --from=rust:1-slim-bookworm /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* && pip install 'maturin>=1.5,<2'
COPY services/fold_core /core
RUN maturin build --release --manifest-path /core/Cargo.toml --out /wheels

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# dependencies first, so code changes do not reinstall them
COPY pyproject.toml README.md ./
COPY services/__init__.py services/
RUN pip install -e '.[rocksdb]'
COPY --from=core /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
# the sources with their compiled modules, from one stage: built after their sources, so never stale
COPY --from=build /app/services services
COPY schemas schemas
COPY deploy/config deploy/config
RUN useradd --system --home /app mp && mkdir -p /data && chown mp /data
USER mp
ENV MP_SCORER_DATA_DIR=/data MP_INGEST_HOST=0.0.0.0 MP_API_HOST=0.0.0.0 MP_SCORER_WEB_HOST=0.0.0.0
EXPOSE 8080 8081 6066
ENTRYPOINT ["mission-pulse"]
