# evo2-api: gRPC front end of the job service. Debian 12, multi-stage: build with the same
# packages scripts/setup.sh installs, ship only the binary and its runtime libraries.
# Build from the repository root:  docker build -f deploy/docker/api.Dockerfile -t evo2-api .
FROM debian:12 AS build
# htslib headers without libhts-dev, which conflicts with prometheus-cpp-dev (see the script).
COPY scripts/install_htslib_headers.sh /tmp/
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      libhiredis-dev prometheus-cpp-dev libyaml-cpp-dev libgtest-dev libgmock-dev \
      libopenblas-dev libfftw3-dev libzip-dev nlohmann-json3-dev libcli11-dev libssl-dev libhts3 \
      libcpp-httplib-dev \
    && /tmp/install_htslib_headers.sh \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release -DEVO2_ENABLE_CUDA=OFF \
      -DEVO2_BUILD_TESTS=OFF \
    && ninja -C build evo2-api evo2

FROM debian:12-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 libhiredis0.14 libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 libssl3 libgrpc29 libcpp-httplib0.11 libhts3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 evo2
COPY --from=build /src/build/services/api/evo2-api /usr/local/bin/evo2-api
COPY --from=build /src/build/services/cli/evo2 /usr/local/bin/evo2
USER 10001
# 50051 gRPC, 9464 Prometheus /metrics, 8080 HTTP/JSON + web page (with --http-listen)
EXPOSE 50051 9464 8080
ENTRYPOINT ["/usr/local/bin/evo2-api"]
