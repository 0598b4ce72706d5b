# The app image: the Faust worker, producers, plots and the Spark jobs (Java 17 for Spark).
FROM python:3.11.9-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY weather_app ./weather_app
COPY spark ./spark
RUN pip install --no-cache-dir ".[spark]"

ENV WEATHER_DATA_DIR=/data \
    KAFKA_BROKER=kafka:9092 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
CMD ["faust", "-A", "weather_app", "--help"]
