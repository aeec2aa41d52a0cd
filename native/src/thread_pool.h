// A tiny persistent thread pool for many short parallel loops.
//
// `parallelFor(n, fn)` runs fn(chunk, thread) for chunk in [0, n) and returns when all chunks are
// done. Chunks are handed out dynamically (an atomic counter), and the calling thread takes part,
// so a worker that is descheduled (e.g. by V8's GC threads on a 2-core machine) delays the loop by
// at most the chunk it already holds, never by its whole share. `thread` identifies the executing
// thread (0 = caller) for per-thread scratch. Results never depend on which thread runs a chunk.
//
// Workers spin for a short while after each loop (the next one of a training update usually
// follows within microseconds), then sleep on a condition variable so an idle engine costs no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace srl {

class ThreadPool {
 public:
  /** @param threads total thread count including the caller (>= 1). */
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /** Largest chunk count run in parallel (larger loops run on the caller). */
  static constexpr int kMaxChunks = 0xffff;

  /** Total threads (caller + workers). */
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  /**
   * Runs fn(chunk, thread) for every chunk in [0, n); blocks until all returned. With
   * `parallel` false (or one thread) everything runs on the caller. fn must not throw.
   */
  template <class F>
  void parallelFor(int n, bool parallel, F&& fn) {
    if (n <= 0) return;
    if (!parallel || n == 1 || workers_.empty() || n > kMaxChunks) {
      for (int c = 0; c < n; ++c) fn(c, 0);
      return;
    }
    using Fn = typename std::remove_reference<F>::type;
    dispatch(n, [](void* ctx, int c, int t) { (*static_cast<Fn*>(ctx))(c, t); }, static_cast<void*>(&fn));
  }

 private:
  using Trampoline = void (*)(void*, int, int);
  void dispatch(int n, Trampoline tramp, void* ctx);
  /** Claims the next chunk of job `gen`; -1 when the job is exhausted or no longer current. */
  int claim(uint32_t gen);
  void workerLoop(int index);

  std::vector<std::thread> workers_;
  uint32_t gen_ = 0;  // caller side: generation of the current / last job
  // Job fields, written by the caller before publishing the generation; a worker reads them only
  // after claiming a chunk (the job cannot end, and the fields cannot change, before that chunk is
  // done).
  std::atomic<Trampoline> tramp_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  // generation << 32 | chunk count << 16 | next chunk index: claims validate all three at once.
  alignas(64) std::atomic<uint64_t> state_{0};
  alignas(64) std::atomic<int> done_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace srl
