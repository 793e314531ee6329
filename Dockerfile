# Madoguchi server image. One way to run it (README.md, docs/operations.md):
#
#   docker build -t madoguchi .
#   docker run --rm -it -v madoguchi-data:/data madoguchi madoguchi create-admin --email you@example.com --if-missing
#   docker run -d --name madoguchi -p 8000:8000 -p 2525:2525 -v madoguchi-data:/data madoguchi
#
# Every setting is a MADOGUCHI_* environment variable (docs/settings.md):
# `docker run -e MADOGUCHI_PUBLIC_URL=https://chat.example.com ...`. The
# scaled-out setup (PostgreSQL, Redis, `serve --workers 2`) is compose.yaml.

# Pinned by version tag and by the digest of its multi-architecture index:
# a rebuild gets the same Debian and Python. Bump both together.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The dependencies first, at the versions in requirements.lock: their layer
# is rebuilt only when the lock changes, not on every change to the code.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --requirement /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# Then the project itself (not editable), without touching the dependencies.
COPY pyproject.toml README.md /tmp/src/
COPY app /tmp/src/app
COPY migrations /tmp/src/migrations
RUN pip install --no-deps /tmp/src \
    && pip check \
    && rm -rf /tmp/src \
    && groupadd --system --gid 10001 madoguchi \
    && useradd --system --uid 10001 --gid madoguchi --no-create-home \
        --home-dir /data --shell /usr/sbin/nologin madoguchi \
    && mkdir -p /data \
    && chown madoguchi:madoguchi /data \
    && chmod 0700 /data

# Every madoguchi command reads MADOGUCHI_DATA_DIR, so `docker exec ...
# madoguchi create-admin` opens the server's own /data/madoguchi.db.
# MADOGUCHI_PORT is the HTTP port of `serve` and of the healthcheck alike.
ENV MADOGUCHI_DATA_DIR=/data \
    MADOGUCHI_PORT=8000 \
    MADOGUCHI_SMTP_PORT=2525

WORKDIR /data
USER madoguchi:madoguchi
VOLUME ["/data"]

# 8000: HTTP API, WebSockets, console and widget; 2525: inbound SMTP channel
EXPOSE 8000 2525

# slim images have no curl: probe /healthz with the standard library
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ['MADOGUCHI_PORT']; sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

# `exec`: madoguchi is PID 1 and gets `docker stop`'s SIGTERM itself.
CMD ["sh", "-c", "exec madoguchi serve --host 0.0.0.0 --port \"$MADOGUCHI_PORT\""]
