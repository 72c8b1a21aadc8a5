# syntax=docker/dockerfile:1
# Sluice container image, built from source in two stages (Maven on a JDK, then the release archive on a JRE).
#   docker build -t sluice .                      # the gateway (the last stage)
#   docker build --target fake-vllm -t fake-vllm .   # the fake vLLM, for docker-compose.yaml's quick start
# Checked by ContainerFilesIT (bench module) against the build; no image was built on the machine this was written on.

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY . .
# The release archive (proxy-server) and the fake vLLM (bench); tests run in CI, not in the image build.
RUN --mount=type=cache,target=/root/.m2 mvn -B -ntp -q -DskipTests package \
 && mkdir -p /out/sluice \
 && tar -xzf proxy-server/target/sluice-*.tar.gz -C /out/sluice --strip-components=1 \
 && cp bench/target/sluice-bench.jar /out/sluice-bench.jar

# The fake vLLM (vLLM's OpenAI wire format, no GPU): `docker compose` runs two of them.
FROM eclipse-temurin:17-jre AS fake-vllm
COPY --from=build /out/sluice-bench.jar /opt/fake-vllm/sluice-bench.jar
USER 10001:10001
EXPOSE 8001
ENTRYPOINT ["java", "-Xmx256m", "-cp", "/opt/fake-vllm/sluice-bench.jar", "io.sluice.bench.fake.FakeVllm"]
CMD ["--host", "0.0.0.0", "--port", "8001", "--model", "meta-llama/Meta-Llama-3-8B-Instruct"]

# The gateway: bin/sluice from the release archive, as a non-root user.
FROM eclipse-temurin:17-jre
RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
 && install -d -o sluice -g sluice -m 750 /var/lib/sluice
COPY --from=build /out/sluice /opt/sluice
COPY --from=build /out/sluice/config/example.yaml /etc/sluice/config.yaml
# The launcher leaves its fixed 1 GiB heap out when JAVA_OPTS sizes the heap: follow the container's memory limit.
ENV JAVA_OPTS="-XX:MaxRAMPercentage=60"
USER 10001:10001
WORKDIR /var/lib/sluice
# The embedded PostgreSQL (when no DATABASE_URL is set) and the spend spill file live here.
VOLUME ["/var/lib/sluice"]
EXPOSE 4000
# SIGTERM drains: readiness 503, in-flight streams finish within --drain-timeout, exit 0.
STOPSIGNAL SIGTERM
# No curl in the JRE image: bash's /dev/tcp sends the request.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/4000 && printf 'GET /health/liveliness HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/opt/sluice/bin/sluice"]
CMD ["--config", "/etc/sluice/config.yaml", "--host", "0.0.0.0", "--port", "4000", "--data-dir", "/var/lib/sluice", "--drain-timeout", "30s"]
