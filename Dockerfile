# Two images from one file:
# * spark-node: a machine of the Spark cluster (master, workers): Python 3.11, Java 17 and the
#   `spark` extra's dependencies (pyspark included), but not the project: a job ships its
#   `spark` and `weather_app` sources to the executors itself (spark/session.py, package_zip);
# * the app (last stage): the Faust worker, producers, plots and the Spark jobs.
FROM python:3.11.9-slim-bookworm AS spark-node

RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /build/
COPY proto /build/proto
COPY weather_app /build/weather_app
COPY spark /build/spark
RUN pip install --no-cache-dir "/build[spark]" \
    && pip uninstall --yes weather-app \
    && rm -rf /build

FROM spark-node

WORKDIR /app
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY weather_app ./weather_app
COPY spark ./spark
COPY plots ./plots
RUN pip install --no-cache-dir ".[spark]"

ENV WEATHER_DATA_DIR=/data \
    KAFKA_BROKER=kafka:9092 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
CMD ["faust", "-A", "weather_app", "--help"]
