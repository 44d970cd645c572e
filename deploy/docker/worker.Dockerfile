# evo2-worker: queue consumer + engine group, plus the `evo2` CLI. Debian 12, multi-stage, two
# targets:
#   CUDA (sm_90, H100/H200):  docker build -f deploy/docker/worker.Dockerfile --target cuda \
#                               -t evo2-worker-cuda .
#   CPU:                      docker build -f deploy/docker/worker.Dockerfile --target cpu \
#                               -t evo2-worker-cpu .
# CUDA 13.0 (what the project is built and tested with) and cuDNN 9 for CUDA 13 come from NVIDIA's
# Debian 12 apt repository; the GPU driver (libcuda.so.1) from the node through the NVIDIA
# container runtime. Checkpoints are mounted at run time (deploy/k8s), never baked in.
# tests/deploy/check_dockerfiles.py derives each runtime stage's packages from `ldd` of the
# binaries it copies (CUDA libraries from what engine/CMakeLists.txt links) and checks the lists.
ARG DEBIAN_IMAGE=debian:12
ARG DEBIAN_SLIM_IMAGE=debian:12-slim
# apt package suffix of the CUDA toolkit (cuda-toolkit-13-0, libcublas-13-0, ...).
ARG CUDA_VERSION=13-0
# NCCL built for that CUDA (NVIDIA's repository carries builds for several).
ARG NCCL_VERSION=2.28.7-1+cuda13.0

FROM ${DEBIAN_IMAGE} AS deps
# htslib headers without libhts-dev, which conflicts with prometheus-cpp-dev (see the script).
COPY scripts/install_htslib_headers.sh /tmp/
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates wget gnupg \
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
      -DEVO2_BUILD_TESTS=OFF -DEVO2_BUILD_BENCH=OFF && ninja -C build evo2-worker evo2

# ---- CUDA build (sm_90) ----
FROM deps AS build-cuda
ARG CUDA_VERSION
ARG NCCL_VERSION
RUN wget -q https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb \
    && dpkg -i cuda-keyring_1.1-1_all.deb && rm cuda-keyring_1.1-1_all.deb \
    && apt-get update -qq && apt-get install -y -qq --no-install-recommends \
         cuda-toolkit-${CUDA_VERSION} libnccl2=${NCCL_VERSION} libnccl-dev=${NCCL_VERSION} \
         libcudnn9-dev-cuda-13 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/local/cuda/bin:${PATH}
COPY . .
RUN cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release -DEVO2_ENABLE_CUDA=ON \
      -DEVO2_CUDA_ARCHITECTURES=90 -DEVO2_BUILD_TESTS=OFF -DEVO2_BUILD_BENCH=OFF \
    && ninja -C build evo2-worker evo2

# ---- runtime images ----
FROM ${DEBIAN_SLIM_IMAGE} AS runtime-base
# RUNTIME_PACKAGES: what the binaries link besides CUDA (libc6, libgcc-s1, libstdc++6 and zlib1g
# are in the slim image already: apt and dpkg need them).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libhiredis0.14 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libssl3 libyaml-cpp0.7 \
      libopenblas0-pthread libfftw3-single3 libhts3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 evo2 \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin evo2
# 9465 Prometheus /metrics. Probe files go to EVO2_WORKER_HEALTH_DIR (a volume in deploy/k8s).
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/evo2-worker"]

FROM runtime-base AS cuda
ARG CUDA_VERSION
ARG NCCL_VERSION
# Runtime libraries only (no toolkit, no compiler). libcudnn9 is dlopen'd for fused attention
# (without it the engine uses its own attention kernel) but is what makes long sequences fast.
COPY --from=build-cuda /etc/apt/sources.list.d/ /etc/apt/sources.list.d/
COPY --from=build-cuda /usr/share/keyrings/ /usr/share/keyrings/
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      cuda-cudart-${CUDA_VERSION} libcublas-${CUDA_VERSION} libcufft-${CUDA_VERSION} \
      libnccl2=${NCCL_VERSION} libcudnn9-cuda-13 \
    && rm -rf /var/lib/apt/lists/*
ENV LD_LIBRARY_PATH=/usr/local/cuda/lib64 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build-cuda /src/build/services/worker/evo2-worker /usr/local/bin/evo2-worker
COPY --from=build-cuda /src/build/services/cli/evo2 /usr/local/bin/evo2
USER 10001:10001
ENV EVO2_DEVICE=cuda

FROM runtime-base AS cpu
COPY --from=build-cpu /src/build/services/worker/evo2-worker /usr/local/bin/evo2-worker
COPY --from=build-cpu /src/build/services/cli/evo2 /usr/local/bin/evo2
USER 10001:10001
ENV EVO2_DEVICE=cpu
