// EVO2_VECTORIZE marks a hot loop function: GCC compiles it at -O3 (the project builds at -O2,
// whose "very cheap" vectoriser skips loops that need an epilogue) and also clones it for AVX2,
// picked at load time (ifunc), so the library still runs on baseline x86-64. No FMA: the
// clones round exactly like the default build, and no float reduction is reassociated (GCC
// never does that without -ffast-math), so results do not depend on the CPU.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__SANITIZE_THREAD__)
// No clones under TSan: GCC instruments the ifunc resolver, which the dynamic loader runs before
// the TSan runtime is initialised, so every program linking the engine crashed at start.
#define EVO2_VECTORIZE __attribute__((optimize("O3")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define EVO2_VECTORIZE __attribute__((target_clones("avx2", "default"), optimize("O3")))
#else
#define EVO2_VECTORIZE
#endif
