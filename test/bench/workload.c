/* workload: prints the numbers of the benchmark workloads, one per line, the same on
 * every machine (splitmix64 with fixed seeds, no libc randomness).
 *   workload W1   10^6 numbers uniform in [0, 1000]
 *   workload W2   every n in [0, 20000) once, shuffled
 *   workload W3   200 numbers uniform in [10^4, 10^6]
 *   workload W4   2,000 numbers uniform in [20000, 60000] (about 1,950 distinct): every one
 *                 above the executor's in-process limit, milliseconds each */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state;

static uint64_t Next(void) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, bound) by rejection: no modulo bias. */
static uint64_t Below(uint64_t bound) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x;
  do x = Next();
  while (x >= limit);
  return x % bound;
}

static void Uniform(uint64_t seed, long how_many, uint64_t low, uint64_t high) {
  state = seed;
  for (long i = 0; i < how_many; ++i) printf("%llu\n", (unsigned long long)(low + Below(high - low + 1)));
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "W1") == 0) {
    Uniform(1, 1000000, 0, 1000);
  } else if (argc == 2 && strcmp(argv[1], "W2") == 0) {
    enum { kCount = 20000 };
    static unsigned order[kCount];
    for (unsigned i = 0; i < kCount; ++i) order[i] = i;
    state = 2;
    for (unsigned i = kCount - 1; i > 0; --i) { /* Fisher-Yates */
      unsigned j = (unsigned)Below(i + 1);
      unsigned t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    for (unsigned i = 0; i < kCount; ++i) printf("%u\n", order[i]);
  } else if (argc == 2 && strcmp(argv[1], "W3") == 0) {
    Uniform(3, 200, 10000, 1000000);
  } else if (argc == 2 && strcmp(argv[1], "W4") == 0) {
    Uniform(4, 2000, 20000, 60000);
  } else {
    fprintf(stderr, "usage: workload W1|W2|W3|W4\n");
    return 2;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
