# evo2-worker: queue consumer + engine group, Debian 12 based, multi-stage, two targets:
#   CPU (the default, last stage):  docker build -f deploy/docker/worker.Dockerfile -t evo2-worker:cpu .
#   CUDA (sm_90, H100/H200):        docker build -f deploy/docker/worker.Dockerfile --target cuda \
#                                     -t evo2-worker:cuda .
# The CUDA toolkit comes from NVIDIA's Debian 12 apt repository; the GPU driver from the node.
# (Docker cannot run on the build machines of this project: these files are linted, not built.)
ARG CUDA_VERSION=12-4

FROM debian:12 AS deps
# htslib headers without libhts-dev, which conflicts with prometheus-cpp-dev (see the script).
COPY scripts/install_htslib_headers.sh /tmp/
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates wget gnupg \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      libhiredis-dev prometheus-cpp-dev libyaml-cpp-dev libgtest-dev libgmock-dev \
      libopenblas-dev libfftw3-dev libzip-dev nlohmann-json3-dev libcli11-dev libssl-dev libhts3 \
      libcpp-httplib-dev \
    && /tmp/install_htslib_headers.sh \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# ---- CPU build ----
FROM deps AS build-cpu
COPY . .
RUN cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release -DEVO2_ENABLE_CUDA=OFF \
      -DEVO2_BUILD_TESTS=OFF && ninja -C build evo2-worker evo2

# ---- CUDA build (sm_90) ----
FROM deps AS build-cuda
ARG CUDA_VERSION
RUN wget -q https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb \
    && dpkg -i cuda-keyring_1.1-1_all.deb && rm cuda-keyring_1.1-1_all.deb \
    && apt-get update -qq && apt-get install -y -qq --no-install-recommends \
         cuda-toolkit-${CUDA_VERSION} libnccl-dev libcudnn9-dev-cuda-13 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/local/cuda/bin:${PATH}
COPY . .
RUN cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release -DEVO2_ENABLE_CUDA=ON \
      -DEVO2_CUDA_ARCHITECTURES=90 -DEVO2_BUILD_TESTS=OFF && ninja -C build evo2-worker evo2

# ---- runtime images ----
FROM debian:12-slim AS runtime-base
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libhiredis0.14 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libssl3 libyaml-cpp0.7 \
      libopenblas0-pthread libfftw3-single3 libzip4 libhts3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 evo2
# 9465 Prometheus /metrics. Checkpoints are mounted at /models (see deploy/k8s).
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/evo2-worker"]

FROM runtime-base AS cuda
ARG CUDA_VERSION
# libcudnn9 is optional at run time (dlopen'd for fused attention; without it the engine uses its
# own attention kernel) but is what makes long sequences fast.
COPY --from=build-cuda /etc/apt/sources.list.d/ /etc/apt/sources.list.d/
COPY --from=build-cuda /usr/share/keyrings/ /usr/share/keyrings/
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      cuda-cudart-${CUDA_VERSION} libcublas-${CUDA_VERSION} libcufft-${CUDA_VERSION} libnccl2 \
      libcudnn9-cuda-13 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build-cuda /src/build/services/worker/evo2-worker /usr/local/bin/evo2-worker
COPY --from=build-cuda /src/build/services/cli/evo2 /usr/local/bin/evo2
USER 10001
ENV EVO2_DEVICE=cuda

FROM runtime-base AS cpu
COPY --from=build-cpu /src/build/services/worker/evo2-worker /usr/local/bin/evo2-worker
COPY --from=build-cpu /src/build/services/cli/evo2 /usr/local/bin/evo2
USER 10001
ENV EVO2_DEVICE=cpu
