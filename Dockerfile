# One image for every Mission Pulse service: `mission-pulse ingest | scorer | api | simulate`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# dependencies first, so code changes do not reinstall them
COPY pyproject.toml README.md ./
COPY services/__init__.py services/
RUN pip install -e '.[rocksdb]'
COPY services services
COPY schemas schemas
COPY deploy/config deploy/config
RUN useradd --system --home /app mp && mkdir -p /data && chown mp /data
USER mp
ENV MP_SCORER_DATA_DIR=/data MP_INGEST_HOST=0.0.0.0 MP_API_HOST=0.0.0.0 MP_SCORER_WEB_HOST=0.0.0.0
EXPOSE 8080 8081 6066
ENTRYPOINT ["mission-pulse"]
