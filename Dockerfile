# One image for every CampusLab service (serve, simulate; later ingest, api, analytics).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY campuslab ./campuslab
COPY core ./core
COPY ingest ./ingest
COPY analytics ./analytics
COPY api ./api
COPY simulators ./simulators
COPY cli ./cli
RUN pip install --no-cache-dir . && useradd --system campuslab && mkdir /data \
    && chown campuslab /data
USER campuslab
EXPOSE 8000
ENTRYPOINT ["campuslab"]
CMD ["serve", "--mqtt-url", "mqtt://mosquitto:1883", "--data-dir", "/data", "--host", "0.0.0.0"]
