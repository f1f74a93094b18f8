# gemini-proxy as a container: docker build -t gemini-proxy . (see docs/deployment.md)
#
# Two stages: wheels are built with the pinned versions of requirements.lock, then installed
# into a slim image that runs as an unprivileged user. Settings are environment variables
# (README, "Settings"); the ones below are this image's defaults.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c requirements.lock .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home gemini \
 && mkdir /data && chown gemini /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
WORKDIR /app
# Outside a container the proxy binds 127.0.0.1; here it must listen on every interface, so it
# refuses to start without client tokens (GEMINI_PROXY_AUTH_TOKENS): pass them at run time.
ENV GEMINI_PROXY_HOST=0.0.0.0 \
    GEMINI_PROXY_PORT=8080 \
    GEMINI_PROXY_KEYS_FILE=/app/secrets/gemini_tokens.txt \
    GEMINI_PROXY_DB=/data/gemini-proxy.db \
    PYTHONUNBUFFERED=1
VOLUME /data
USER gemini
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GEMINI_PROXY_PORT', '8080') + '/health', timeout=2)"]
ENTRYPOINT ["gemini-proxy"]
CMD ["serve"]
