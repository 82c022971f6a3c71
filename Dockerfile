# One image for every CampusLab service: serve (embedded mode), and in the full
# stack (docker-compose.yml) ingest, api, analytics and simulate.
#   docker build -t campuslab .      docker run --rm campuslab --help

# Build the wheel from the package folders only (the card's top-level folders,
# installed under campuslab.* by pyproject.toml's package-dir).
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY campuslab ./campuslab
COPY core ./core
COPY ingest ./ingest
COPY analytics ./analytics
COPY api ./api
COPY simulators ./simulators
COPY cli ./cli
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# The runtime image holds the installed package and no source tree, so nothing
# on the working directory can shadow the installed campuslab.* packages.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CAMPUSLAB_DATA_DIR=/data
COPY --from=wheel /wheels /tmp/wheels
# `campuslab dashboards sync` pushes these to a Grafana the stack does not provision.
COPY dashboards /opt/campuslab/dashboards
ENV CAMPUSLAB_DASHBOARDS_DIR=/opt/campuslab/dashboards
RUN pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 10001 campuslab \
    && useradd --system --uid 10001 --gid campuslab --no-create-home \
       --home-dir /data --shell /usr/sbin/nologin campuslab \
    && mkdir -p /data /spool \
    && chown campuslab:campuslab /data /spool
# Named volumes mounted on /data or /spool start out owned by campuslab: Docker
# copies the ownership of the image's folder into a new, empty volume.
WORKDIR /data
USER campuslab
EXPOSE 8000
ENTRYPOINT ["campuslab"]
CMD ["serve", "--mqtt-url", "mqtt://mosquitto:1883", "--data-dir", "/data", "--host", "0.0.0.0"]
