# evo2-api: gRPC front end of the job service, plus the `evo2` client (and `evo2-api --hash-key`).
# Debian 12, multi-stage: build with the packages scripts/setup.sh installs, ship only the
# binaries and the shared libraries they link. tests/deploy/check_dockerfiles.py derives that
# list from `ldd` of the binaries in CI's build tree and fails when RUNTIME_PACKAGES misses one
# or carries one nothing needs.
# Build from the repository root:  docker build -f deploy/docker/api.Dockerfile -t evo2-api .
ARG DEBIAN_IMAGE=debian:12
ARG DEBIAN_SLIM_IMAGE=debian:12-slim

FROM ${DEBIAN_IMAGE} AS build
# htslib headers without libhts-dev, which conflicts with prometheus-cpp-dev (see the script).
COPY scripts/install_htslib_headers.sh /tmp/
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      libhiredis-dev prometheus-cpp-dev libyaml-cpp-dev libgtest-dev libgmock-dev \
      libopenblas-dev libfftw3-dev libzip-dev nlohmann-json3-dev libcli11-dev libssl-dev libhts3 \
      libcpp-httplib-dev \
    && /tmp/install_htslib_headers.sh \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release -DEVO2_ENABLE_CUDA=OFF \
      -DEVO2_BUILD_TESTS=OFF -DEVO2_BUILD_BENCH=OFF \
    && ninja -C build evo2-api evo2

FROM ${DEBIAN_SLIM_IMAGE} AS runtime
# RUNTIME_PACKAGES: what the two binaries link (libc6, libgcc-s1, libstdc++6 and zlib1g are in
# the slim image already: apt and dpkg need them).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libhiredis0.14 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libssl3 libyaml-cpp0.7 \
      libopenblas0-pthread libfftw3-single3 libcpp-httplib0.11 libhts3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 evo2 \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin evo2
COPY --from=build /src/build/services/api/evo2-api /usr/local/bin/evo2-api
COPY --from=build /src/build/services/cli/evo2 /usr/local/bin/evo2
USER 10001:10001
# 50051 gRPC, 9464 Prometheus /metrics, 8080 HTTP/JSON + web page (with --http-listen)
EXPOSE 50051 9464 8080
ENTRYPOINT ["/usr/local/bin/evo2-api"]
