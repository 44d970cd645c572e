#!/usr/bin/env python3
"""Checks deploy/docker/*.Dockerfile offline against the binaries of a build tree (no Docker
engine is reachable from CI; docs/deploy.md, "What CI checks"):

* each runtime stage (one that copies binaries out of a build stage) installs a Debian package
  for every shared library those binaries link (`ldd` of the same binaries in BUILD_DIR, each
  library mapped to its package with `dpkg -S`; a listed package's dependencies count, read from
  the installed packages' `Depends`) and nothing they do not need;
* CUDA stages: the CUDA libraries come from what engine/CMakeLists.txt links (or `ldd` of a CUDA
  build), in NVIDIA's package names for the Dockerfile's CUDA_VERSION, which must be the CUDA the
  project builds with; cuDNN and NCCL packages for that same CUDA;
* runtime stages run as a non-root USER and install no compiler, toolkit or -dev package.

  check_dockerfiles.py [--self-test] [--cuda-version 13.0] REPO_ROOT BUILD_DIR
"""
import argparse
import os
import re
import subprocess
import sys

# In debian:12-slim already (apt and dpkg depend on them), so a Dockerfile need not list them.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
# Installed for what the binaries do at run time rather than link: TLS roots for https.
ALLOWED_EXTRA = {"ca-certificates"}
# NVIDIA's apt package of each CUDA library the engine links ({v} = CUDA_VERSION, e.g. 13-0).
CUDA_TARGET_PACKAGES = {"CUDA::cudart": "cuda-cudart-{v}", "CUDA::cublas": "libcublas-{v}",
                        "CUDA::cublasLt": "libcublas-{v}", "CUDA::cufft": "libcufft-{v}",
                        "evo2_nccl": "libnccl2"}
CUDA_SONAME_PACKAGES = {"libcudart.so": "cuda-cudart-{v}", "libcublas.so": "libcublas-{v}",
                        "libcublasLt.so": "libcublas-{v}", "libcufft.so": "libcufft-{v}",
                        "libnccl.so": "libnccl2"}
# dlopen'd at run time (engine/src/cuda/cudnn_api.h), so ldd does not show it.
CUDA_DLOPEN_PACKAGES = {"libcudnn9-cuda-{major}"}
DRIVER_LIBS = ("libcuda.so",)  # from the node, through the NVIDIA container runtime
# Runtimes of a sanitizer build tree (scripts/sanitize.sh runs this test there too); the images
# are built without them.
SANITIZER_LIBS = ("libasan.so", "libubsan.so", "libtsan.so", "liblsan.so", "libclang_rt")
COMPILER = re.compile(r"^(build-essential|gcc(-\d+)?|g\+\+(-\d+)?|clang(-\d+)?|cmake|ninja-build|"
                      r"cuda-toolkit.*|cuda-nvcc.*|cuda-compiler.*|.*-dev(-.*)?)$")


class Stage:
    def __init__(self, name, parent):
        self.name, self.parent = name, parent
        self.packages, self.copies, self.user, self.text = [], [], None, ""


def parse(text, overrides=None):
    """Stages of a Dockerfile: packages installed by apt-get, binaries copied from other stages,
    USER. ${ARG} references take the ARG defaults (or `overrides`)."""
    text = re.sub(r"\\\n", " ", text)
    args, stages, cur = dict(overrides or {}), {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG":
            k, _, v = rest.partition("=")
            if v and k.strip() not in (overrides or {}):
                args.setdefault(k.strip(), v.strip())
            continue
        rest = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest)
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            parent = stages.get(m.group(1))
            cur = stages[m.group(2) or m.group(1)] = Stage(m.group(2) or m.group(1), parent)
        elif cur is None:
            continue
        elif word == "RUN":
            cur.text += rest + "\n"
            for seg in re.split(r"&&|;", rest):
                toks = seg.split()
                if "apt-get" in toks and "install" in toks:
                    for t in toks[toks.index("install") + 1:]:
                        if not t.startswith("-") and not t.startswith(">"):
                            cur.packages.append(t.split("=", 1)[0])
        elif word == "COPY":
            m = re.match(r"--from=(\S+)\s+(\S+)\s+(\S+)", rest)
            if m and m.group(2).startswith("/src/build/"):
                cur.copies.append((m.group(1), m.group(2)[len("/src/build/"):], m.group(3)))
        elif word == "USER":
            cur.user = rest.split(":")[0]
    return args, stages


def lineage(stage):
    while stage is not None:
        yield stage
        stage = stage.parent


def _candidates(path):
    """The paths under which dpkg may have registered `path` (Debian 12 merges /lib into
    /usr/lib, and packages register either spelling; symlinks such as OpenBLAS' alternatives
    resolve to the real file)."""
    out = []
    for p in (path, os.path.realpath(path)):
        out += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
    return out


_owner_cache = {}


def dpkg_owners(paths):
    """Maps each library path to its Debian package (None when no package owns it), with one
    `dpkg -S` call for all of them (each call reads the whole file database)."""
    todo = sorted({c for p in paths if p not in _owner_cache for c in _candidates(p)})
    owners = {}
    if todo:
        out = subprocess.run(["dpkg", "-S"] + todo, capture_output=True, text=True)
        for line in out.stdout.splitlines():
            pkgs, _, f = line.partition(": ")
            owners[f.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    for p in paths:
        if p not in _owner_cache:
            _owner_cache[p] = next((owners[c] for c in _candidates(p) if c in owners), None)
    return {p: _owner_cache[p] for p in paths}


_ldd_cache = {}


def ldd(binary):
    if binary in _ldd_cache:
        return _ldd_cache[binary]
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"ldd {binary}: {out.stderr.strip()}")
    libs = []
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            libs.append((m.group(1), m.group(2)))
    _ldd_cache[binary] = libs
    return libs


_depends_cache = {}


def depends_closure(packages):
    """Packages and, transitively, their dependencies as installed here (first alternative)."""
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        if p not in _depends_cache:
            out = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", p],
                                 capture_output=True, text=True)
            deps = []
            if out.returncode == 0:
                for alt in out.stdout.split(","):
                    name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
                    if name:
                        deps.append(name)
            _depends_cache[p] = deps
        todo += _depends_cache[p]
    return seen


def engine_cuda_targets(root):
    with open(os.path.join(root, "engine", "CMakeLists.txt")) as f:
        text = f.read()
    return sorted(set(re.findall(r"(CUDA::\w+|evo2_nccl)", text)))


def build_has_cuda(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            return re.search(r"^EVO2_HAVE_CUDA:\w+=ON$", f.read(), re.M) is not None
    except OSError:
        return False


def check(name, text, root, build, cuda_version, overrides=None):
    errors = []
    args, stages = parse(text, overrides)
    cuda_pkg = args.get("CUDA_VERSION", "")
    major = cuda_pkg.split("-")[0]
    for st in stages.values():
        if not st.copies:
            continue
        where = f"{name} stage {st.name}"
        listed = [p for s in lineage(st) for p in s.packages]
        user = next((s.user for s in lineage(st) if s.user), None)
        if user is None or user in ("0", "root"):
            errors.append(f"{where}: runs as root (no non-root USER)")
        for p in listed:
            if COMPILER.match(p):
                errors.append(f"{where}: installs {p} (no compilers or -dev packages at run time)")
        is_cuda = any("EVO2_ENABLE_CUDA=ON" in stages[src].text
                      for src, _, _ in st.copies if src in stages)
        needed = {}  # package -> the library that needs it
        for src, rel, _ in st.copies:
            binary = os.path.join(build, rel)
            if not os.path.exists(binary):
                errors.append(f"{where}: copies {rel}, which the build tree {build} lacks")
                continue
            libs = ldd(binary)
            owners = dpkg_owners([path for _, path in libs if path.startswith("/")])
            for soname, path in libs:
                if path == "not":
                    errors.append(f"{where}: {rel} needs {soname}, not found here")
                    continue
                if soname.startswith(DRIVER_LIBS + SANITIZER_LIBS):
                    continue
                cuda = next((pk for so, pk in CUDA_SONAME_PACKAGES.items()
                             if soname.startswith(so + ".")), None)
                if cuda and not is_cuda:
                    # This build tree has CUDA but the stage's image builds with
                    # EVO2_ENABLE_CUDA=OFF, so its binary does not link the CUDA libraries.
                    continue
                pkg = cuda.format(v=cuda_pkg) if cuda else owners.get(path)
                if pkg is None:
                    errors.append(f"{where}: no Debian package owns {path} ({rel} links it)")
                else:
                    needed.setdefault(pkg, f"{soname} ({os.path.basename(rel)})")
        dlopened = set()
        if is_cuda:
            if not build_has_cuda(build):
                # A CPU build tree: the CUDA binary links what the CPU one does plus the CUDA
                # libraries the engine's CUDA target links.
                for t in engine_cuda_targets(root):
                    if t in CUDA_TARGET_PACKAGES:
                        needed.setdefault(CUDA_TARGET_PACKAGES[t].format(v=cuda_pkg),
                                          f"{t} (engine/CMakeLists.txt)")
            dlopened = {p.format(major=major) for p in CUDA_DLOPEN_PACKAGES}
            needed.update({p: "dlopen (cuDNN fused attention)" for p in dlopened})
        have = depends_closure(listed) | BASE_IMAGE_PACKAGES
        for pkg, why in sorted(needed.items()):
            if pkg not in have:
                errors.append(f"{where}: needs package {pkg} for {why}, not installed")
        for p in listed:
            if p not in needed and p not in ALLOWED_EXTRA:
                errors.append(f"{where}: installs {p}, which no copied binary needs")
        if is_cuda:
            want = cuda_version.replace(".", "-")
            if cuda_pkg != want:
                errors.append(f"{name}: CUDA_VERSION {cuda_pkg!r} is not the project's CUDA "
                              f"{cuda_version} ({want!r})")
            for p in [p for s in stages.values() for p in s.packages]:
                m = re.search(r"-cuda-(\d+)$", p)
                if m and m.group(1) != major:
                    errors.append(f"{name}: {p} is for CUDA {m.group(1)}, CUDA_VERSION is "
                                  f"{cuda_pkg}")
            nccl = args.get("NCCL_VERSION", "")
            if not nccl.endswith(f"+cuda{cuda_version}"):
                errors.append(f"{name}: NCCL_VERSION {nccl!r} is not built for CUDA "
                              f"{cuda_version}")
    return errors


def self_test(files, root, build, cuda_version):
    """Each breakage must add an error; returns the ones that did not."""
    missed = []
    api, worker = files["api.Dockerfile"], files["worker.Dockerfile"]
    cases = [
        ("api.Dockerfile", api.replace("libyaml-cpp0.7 ", ""), "yaml-cpp removed"),
        ("api.Dockerfile", api.replace("libopenblas0-pthread libfftw3-single3 ", ""),
         "OpenBLAS and FFTW removed"),
        ("api.Dockerfile", api.replace("USER 10001:10001", ""), "no USER"),
        ("api.Dockerfile", api.replace("ca-certificates \\\n    && rm",
                                       "ca-certificates g++ \\\n    && rm"), "a compiler"),
        ("api.Dockerfile", api.replace("libssl3 ", "libssl3 libzip4 "), "an unneeded package"),
        ("worker.Dockerfile", worker.replace("ARG CUDA_VERSION=13-0", "ARG CUDA_VERSION=12-4"),
         "CUDA 12.4"),
        ("worker.Dockerfile", worker.replace("libcufft-${CUDA_VERSION} ", ""), "cuFFT removed"),
        ("worker.Dockerfile", worker.replace("libcudnn9-cuda-13", "libcudnn9-cuda-12"),
         "cuDNN for CUDA 12"),
        ("worker.Dockerfile", worker.replace("+cuda13.0", "+cuda12.8"), "NCCL for CUDA 12.8"),
    ]
    for fname, text, what in cases:
        before = set(check(fname, files[fname], root, build, cuda_version))
        after = set(check(fname, text, root, build, cuda_version))
        if text == files[fname] or not after - before:
            missed.append(f"self-test: {fname} with '{what}' passes the checks")
    return missed, len(cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("build")
    ap.add_argument("--cuda-version", default="13.0",
                    help="the CUDA (major.minor) the project builds and tests with")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    ddir = os.path.join(a.root, "deploy", "docker")
    files = {}
    for f in sorted(os.listdir(ddir)):
        if f.endswith(".Dockerfile"):
            with open(os.path.join(ddir, f)) as fh:
                files[f] = fh.read()
    errors = []
    for f, text in files.items():
        errors += check(f, text, a.root, a.build, a.cuda_version)
    if not os.path.exists(os.path.join(a.root, ".dockerignore")):
        errors.append(".dockerignore is missing (the build context would carry build trees)")
    if a.self_test:
        missed, n = self_test(files, a.root, a.build, a.cuda_version)
        errors += missed
        print(f"check_dockerfiles: self-test: {n} kinds of breakage")
    for e in errors:
        print(e, file=sys.stderr)
    print(f"check_dockerfiles: {len(files)} Dockerfiles, {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
