# slawatch image: the package and its rules files; one image for `worker`, `sink` and `generate`
# (docker-compose.yml picks the command). Settings come from SLAWATCH_* variables (streams/settings.py).

# The SLA core's hot modules compiled (streams/core/build.py) where a compiler is at hand; the
# final image only gets the built modules, which `pip install .` packages with the sources.
FROM python:3.11 AS core
WORKDIR /app
COPY streams ./streams
RUN pip install --no-cache-dir "Cython>=3.1,<4" "setuptools>=68" && python -m streams.core.build

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY --from=core /app/streams ./streams
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
