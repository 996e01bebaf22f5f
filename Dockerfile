# syntax=docker/dockerfile:1
# Airglow's images. Build from the repository root (the bridge is the default target):
#   docker build --target bridge -t ghcr.io/airglow/airglow:0.1.0 .
#   docker build --target airflow --build-arg AIRFLOW_IMAGE=apache/airflow:3.3.2 \
#     -t ghcr.io/airglow/airflow:3.3.2-airglow0.1.0 .
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2

# The airglow wheel, built once for both images.
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge bridge
COPY log_handlers log_handlers
COPY dashboards dashboards
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Apache Airflow with Airglow's task log handlers (manifests/airflow/values-airflow*.yaml use this image);
# the official image's own user installs it, as its docs ask. `dogstatsd` adds the datadog client that
# statsd_datadog_enabled needs (the official image does not ship it). Airflow stays exactly as the image has
# it: pinned to the image's version ($AIRFLOW_VERSION, set by the official image), and every dependency
# Airflow shares with Airglow held to Airflow's constraints for that version and the image's Python.
FROM ${AIRFLOW_IMAGE} AS airflow
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    python_version="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" && \
    pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
      --constraint "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${python_version}.txt" \
      "$(ls /wheels/airglow-*.whl)[s3,gcs,azure,elasticsearch,fluent,dogstatsd,kubernetes]"

# The bridge (manifests/base uses this image): slim Python, airglow with the kubernetes extra for
# sender-pod lookup, running as an unprivileged user with nothing writable needed.
FROM ${PYTHON_IMAGE} AS bridge
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --no-cache-dir "$(ls /wheels/airglow-*.whl)[kubernetes]"
USER 65532:65532
EXPOSE 9125/udp 9125/tcp 9102/tcp
ENTRYPOINT ["airglow-bridge"]
