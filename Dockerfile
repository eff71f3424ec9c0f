# slawatch image: the package and its rules files; one image for `worker`, `sink` and `generate`
# (docker-compose.yml picks the command). Settings come from SLAWATCH_* variables (streams/settings.py).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY sinks ./sinks
COPY rules ./rules
RUN pip install --no-cache-dir . && useradd --system --no-create-home slawatch
USER slawatch
# The rules are not inside the installed package: point at the copies in /app.
# HTTP listeners default to 127.0.0.1; in a container they must answer Prometheus on the
# container network (publish them to the host's loopback only, as docker-compose.yml does).
ENV SLAWATCH_RULES=/app/rules/sla.yaml \
    SLAWATCH_QA_RULES=/app/rules/qa.yaml \
    SLAWATCH_HTTP_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 9108 9109
ENTRYPOINT ["slawatch"]
CMD ["worker"]
