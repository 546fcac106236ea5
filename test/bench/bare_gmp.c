/* bare-gmp: the baseline of the benchmarks (test/bench/README.md). Reads numbers (whitespace-separated
 * decimals) from stdin and prints "n! = <digits>" for each, in input order, computing every
 * one with mpz_fac_ui + mpz_get_str on THREADS threads: no cache, a repeated number is
 * computed again.
 *   bare-gmp THREADS < numbers > lines
 * Threads take blocks of consecutive numbers; the main thread writes finished blocks in order,
 * and at most a window of blocks is outstanding, so memory stays bounded on long inputs. */

#include <gmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Block {
  char* text;
  size_t size;
  size_t capacity;
  int done;
};

static unsigned long* numbers;
static size_t count;
static size_t block_size;
static size_t block_count;
static struct Block* blocks;
static size_t next_block;    /* the next block a worker takes */
static size_t written;       /* blocks written so far */
static size_t window;        /* blocks allowed ahead of the writer */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static void Reserve(struct Block* b, size_t more) {
  if (b->size + more <= b->capacity) return;
  size_t capacity = b->capacity ? b->capacity : 4096;
  while (capacity < b->size + more) capacity *= 2;
  b->text = realloc(b->text, capacity);
  if (b->text == NULL) {
    fprintf(stderr, "bare-gmp: out of memory\n");
    exit(1);
  }
  b->capacity = capacity;
}

static void* Work(void* unused) {
  (void)unused;
  mpz_t f;
  mpz_init(f);
  for (;;) {
    pthread_mutex_lock(&mutex);
    while (next_block < block_count && next_block >= written + window) pthread_cond_wait(&changed, &mutex);
    size_t b = next_block < block_count ? next_block++ : block_count;
    pthread_mutex_unlock(&mutex);
    if (b == block_count) break;

    struct Block* block = &blocks[b];
    size_t end = (b + 1) * block_size < count ? (b + 1) * block_size : count;
    for (size_t i = b * block_size; i < end; ++i) {
      mpz_fac_ui(f, numbers[i]);
      size_t digits = mpz_sizeinbase(f, 10);
      Reserve(block, digits + 32);
      block->size += (size_t)sprintf(block->text + block->size, "%lu! = ", numbers[i]);
      mpz_get_str(block->text + block->size, 10, f);
      block->size += strlen(block->text + block->size);
      block->text[block->size++] = '\n';
    }
    pthread_mutex_lock(&mutex);
    block->done = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&mutex);
  }
  mpz_clear(f);
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 0;
  if (argc != 2 || threads < 1) {
    fprintf(stderr, "usage: bare-gmp THREADS < numbers > lines\n");
    return 2;
  }
  size_t capacity = 1 << 16;
  numbers = malloc(capacity * sizeof *numbers);
  unsigned long n;
  while (numbers != NULL && scanf("%lu", &n) == 1) {
    if (count == capacity) numbers = realloc(numbers, (capacity *= 2) * sizeof *numbers);
    if (numbers != NULL) numbers[count++] = n;
  }
  if (numbers == NULL || !feof(stdin)) {
    fprintf(stderr, "bare-gmp: cannot read the numbers (decimals separated by whitespace)\n");
    return 1;
  }
  /* Blocks small enough that big numbers spread over the threads, large enough that
   * millions of tiny ones do not contend on the mutex. */
  block_size = count / ((size_t)threads * 64);
  if (block_size < 1) block_size = 1;
  if (block_size > 1024) block_size = 1024;
  block_count = (count + block_size - 1) / block_size;
  blocks = calloc(block_count ? block_count : 1, sizeof *blocks);
  window = 8 * (size_t)threads;

  pthread_t* workers = malloc((size_t)threads * sizeof *workers);
  for (int t = 0; t < threads; ++t) pthread_create(&workers[t], NULL, Work, NULL);
  for (size_t b = 0; b < block_count; ++b) {
    pthread_mutex_lock(&mutex);
    while (!blocks[b].done) pthread_cond_wait(&changed, &mutex);
    pthread_mutex_unlock(&mutex);
    if (fwrite(blocks[b].text, 1, blocks[b].size, stdout) != blocks[b].size) {
      fprintf(stderr, "bare-gmp: write failed\n");
      return 1;
    }
    free(blocks[b].text);
    pthread_mutex_lock(&mutex);
    ++written;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&mutex);
  }
  for (int t = 0; t < threads; ++t) pthread_join(workers[t], NULL);
  free(workers);
  free(blocks);
  free(numbers);
  return fflush(stdout) == 0 ? 0 : 1;
}
