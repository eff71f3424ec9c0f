# slawatch worker image: the package and its rules; settings come from SLAWATCH_* variables.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY sinks ./sinks
COPY rules ./rules
RUN pip install --no-cache-dir . && useradd --system slawatch
USER slawatch
ENV SLAWATCH_RULES=/app/rules/sla.yaml SLAWATCH_HTTP_HOST=0.0.0.0
EXPOSE 9108
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/health', timeout=2)"
ENTRYPOINT ["slawatch"]
CMD ["worker"]
