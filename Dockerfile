# Madoguchi server image.
#   docker build -t madoguchi .
#   docker run -p 8000:8000 -p 2525:2525 -v madoguchi-data:/data madoguchi
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project (not editable), then drop the sources.
COPY . /tmp/src
RUN pip install /tmp/src \
    && rm -rf /tmp/src \
    && groupadd --system --gid 10001 madoguchi \
    && useradd --system --uid 10001 --gid madoguchi --no-create-home \
        --home-dir /data --shell /usr/sbin/nologin madoguchi \
    && mkdir -p /data \
    && chown madoguchi:madoguchi /data

WORKDIR /data
USER madoguchi:madoguchi
VOLUME ["/data"]

# 8000: HTTP API, websockets and widget; 2525: inbound SMTP channel
EXPOSE 8000 2525

# slim images have no curl: probe /healthz with the standard library
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["madoguchi", "serve", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
