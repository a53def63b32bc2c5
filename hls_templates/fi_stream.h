// fi_stream.h: a minimal FIFO with the hls::stream API (read, write, empty, full, size,
// read_nb, write_nb, >> and <<) for C simulation with a plain C++ compiler when the Xilinx
// hls_stream.h is not available. Part of fastinference (MIT). Never used under __SYNTHESIS__.
//
// Two modes:
// * sequential (default, like Vitis C simulation): the top calls its functions one after the
//   other, streams are unbounded; a read from an empty stream is a hard error (it prints the
//   stream's name and aborts), so a producer/consumer count mismatch cannot pass;
// * dataflow (the top compiled with -DFI_CSIM_DATAFLOW runs each function in a thread of a
//   fi::dataflow): a stream with a depth (set_depth, from the STREAM pragma's depth) holds at
//   most that many values, a write to a full stream and a read from an empty one wait, and
//   when every function waits on a stream that cannot move the run aborts with "deadlock",
//   naming the stream each function waits on. An undersized FIFO on the short branch of a
//   fork/join deadlocks here exactly as it would in hardware.
#ifndef FI_STREAM_H
#define FI_STREAM_H

#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fi {

// A stream as the deadlock check sees it.
class stream_base {
 public:
  virtual ~stream_base() {}
  virtual std::size_t count() const = 0;
  virtual std::size_t capacity() const = 0;  // 0: unbounded
  virtual const std::string& label() const = 0;
};

// The state every stream and thread of a dataflow run shares (one lock: C simulation only).
struct dataflow_state {
  std::mutex m;
  std::condition_variable cv;
  bool on = false;  // a dataflow run is in progress
  int live = 0;     // its threads still running
  struct waiter {
    const stream_base* s;
    bool write;
    const char* fn;
  };
  std::vector<waiter*> waiting;

  static dataflow_state& get() {
    static dataflow_state st;
    return st;
  }
  static bool stuck(const waiter& w) {
    return w.write ? (w.s->capacity() != 0 && w.s->count() >= w.s->capacity()) : w.s->count() == 0;
  }
  // with m held: every live thread waits on a stream that cannot move
  void check_deadlock() {
    if (live == 0 || static_cast<int>(waiting.size()) < live) return;
    for (const waiter* w : waiting)
      if (!stuck(*w)) return;
    std::fprintf(stderr, "fi_stream: deadlock: every function waits\n");
    for (const waiter* w : waiting) {
      if (w->write) {
        std::fprintf(stderr, "  %s writes to full stream '%s' (depth %zu)\n", w->fn,
                     w->s->label().c_str(), w->s->capacity());
      } else {
        std::fprintf(stderr, "  %s reads from empty stream '%s'\n", w->fn, w->s->label().c_str());
      }
    }
    std::fflush(stderr);
    std::abort();
  }
};

inline thread_local const char* current_fn = "top";

// Runs functions concurrently, one thread each: run(name, f) ..., then wait() (starts and joins).
class dataflow {
 public:
  dataflow() {
    dataflow_state& st = dataflow_state::get();
    std::lock_guard<std::mutex> lk(st.m);
    st.on = true;
  }
  dataflow(const dataflow&) = delete;
  dataflow& operator=(const dataflow&) = delete;
  ~dataflow() { wait(); }

  // queue a function; wait() starts them all at once (so the deadlock check sees them all)
  void run(const char* name, std::function<void()> f) { jobs_.push_back({name, f}); }
  void wait() {
    dataflow_state& st = dataflow_state::get();
    {
      std::lock_guard<std::mutex> lk(st.m);
      st.live += static_cast<int>(jobs_.size());
    }
    for (const job& j : jobs_) {
      threads_.emplace_back([j]() {
        current_fn = j.name;
        j.f();
        dataflow_state& s = dataflow_state::get();
        std::lock_guard<std::mutex> lk(s.m);
        s.live--;
        s.cv.notify_all();
        s.check_deadlock();
      });
    }
    jobs_.clear();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    std::lock_guard<std::mutex> lk(st.m);
    st.on = false;
  }

 private:
  struct job {
    const char* name;
    std::function<void()> f;
  };
  std::vector<job> jobs_;
  std::vector<std::thread> threads_;
};

}  // namespace fi

namespace hls {

template <typename T>
class stream : public fi::stream_base {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}
  explicit stream(const std::string& name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  ~stream() {
    if (!data_.empty()) {
      std::fprintf(stderr, "fi_stream: stream '%s' holds %zu leftover value(s)\n",
                   name_.c_str(), data_.size());
    }
  }

  // the FIFO depth (0: unbounded); bounds the stream in a dataflow run only
  void set_depth(std::size_t depth) { depth_ = depth; }

  bool empty() const { return size() == 0; }
  bool full() const { return false; }
  std::size_t size() const {
    fi::dataflow_state& st = fi::dataflow_state::get();
    std::lock_guard<std::mutex> lk(st.m);
    return data_.size();
  }

  T read() {
    fi::dataflow_state& st = fi::dataflow_state::get();
    std::unique_lock<std::mutex> lk(st.m);
    if (data_.empty()) {
      if (!st.on) {
        std::fprintf(stderr, "fi_stream: read from empty stream '%s'\n", name_.c_str());
        std::abort();
      }
      wait(st, lk, false);
    }
    T v = data_.front();
    data_.pop_front();
    st.cv.notify_all();
    return v;
  }
  void read(T& v) { v = read(); }
  void write(const T& v) {
    fi::dataflow_state& st = fi::dataflow_state::get();
    std::unique_lock<std::mutex> lk(st.m);
    if (st.on && depth_ != 0 && data_.size() >= depth_) wait(st, lk, true);
    data_.push_back(v);
    st.cv.notify_all();
  }

  bool read_nb(T& v) {
    if (empty()) return false;
    v = read();
    return true;
  }
  bool write_nb(const T& v) {
    write(v);
    return true;
  }

  void operator>>(T& v) { read(v); }
  void operator<<(const T& v) { write(v); }

  std::size_t count() const override { return data_.size(); }
  std::size_t capacity() const override { return depth_; }
  const std::string& label() const override { return name_; }

 private:
  // with st.m held: wait until this stream can move, checking for a deadlock first
  void wait(fi::dataflow_state& st, std::unique_lock<std::mutex>& lk, bool write) {
    fi::dataflow_state::waiter w{this, write, fi::current_fn};
    st.waiting.push_back(&w);
    while (fi::dataflow_state::stuck(w)) {
      st.check_deadlock();
      st.cv.wait(lk);
    }
    for (std::size_t i = 0; i < st.waiting.size(); i++) {
      if (st.waiting[i] == &w) {
        st.waiting.erase(st.waiting.begin() + static_cast<long>(i));
        break;
      }
    }
  }

  std::string name_;
  std::deque<T> data_;
  std::size_t depth_ = 0;
};

}  // namespace hls

#endif  // FI_STREAM_H
