#include "thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SRL_PAUSE() _mm_pause()
#else
#define SRL_PAUSE() ((void)0)
#endif

namespace srl {

namespace {
// How long an idle worker spins before sleeping. Covers the gap between two engine calls of one
// training update (JS glue work) without burning a core between updates.
constexpr auto kSpin = std::chrono::microseconds(200);
inline uint32_t genOf(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
inline int countOf(uint64_t s) { return static_cast<int>((s >> 16) & 0xffffu); }
inline int nextOf(uint64_t s) { return static_cast<int>(s & 0xffffu); }
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  workers_.reserve(threads - 1);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true, std::memory_order_seq_cst);
    // A new generation with no chunks wakes everybody.
    state_.store(uint64_t(++gen_) << 32, std::memory_order_seq_cst);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::claim(uint32_t gen) {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (genOf(s) != gen) return -1;
    const int next = nextOf(s);
    if (next >= countOf(s)) return -1;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      return next;
  }
}

void ThreadPool::dispatch(int n, Trampoline tramp, void* ctx) {
  const uint32_t gen = ++gen_;
  tramp_.store(tramp, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  state_.store(uint64_t(gen) << 32 | uint64_t(n) << 16, std::memory_order_seq_cst);
  // A worker deciding to sleep re-checks the state under the mutex after registering as a
  // sleeper, so this check-then-notify cannot miss it.
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    cv_.notify_all();
  }
  int c;
  while ((c = claim(gen)) >= 0) {
    tramp(ctx, c, 0);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
  // Only chunks already claimed by workers are outstanding.
  while (done_.load(std::memory_order_acquire) != n) SRL_PAUSE();
}

void ThreadPool::workerLoop(int index) {
  uint32_t seen = 0;
  for (;;) {
    auto start = std::chrono::steady_clock::now();
    uint32_t gen;
    int spins = 0;
    for (;;) {
      gen = genOf(state_.load(std::memory_order_acquire));
      if (gen != seen) break;
      SRL_PAUSE();
      if (++spins == 256) {
        spins = 0;
        if (std::chrono::steady_clock::now() - start > kSpin) {
          std::unique_lock<std::mutex> lock(mutex_);
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          cv_.wait(lock, [&] { return genOf(state_.load(std::memory_order_seq_cst)) != seen; });
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
          start = std::chrono::steady_clock::now();
        }
      }
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    int c;
    while ((c = claim(gen)) >= 0) {
      // Claimed: job `gen` is still running, so these are its fields.
      tramp_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), c, index);
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }
}

}  // namespace srl
