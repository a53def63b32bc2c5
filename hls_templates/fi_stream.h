// fi_stream.h: a minimal FIFO with the hls::stream API (read, write, empty, full, size,
// read_nb, write_nb, >> and <<) for C simulation with a plain C++ compiler when the Xilinx
// hls_stream.h is not available. Part of fastinference (MIT). Never used under __SYNTHESIS__.
//
// Unlike a silent model, a read from an empty stream is a hard error: it prints the stream's
// name and aborts, so a producer/consumer count mismatch cannot pass C simulation.
#ifndef FI_STREAM_H
#define FI_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <typename T>
class stream {
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

  bool empty() const { return data_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return data_.size(); }

  T read() {
    if (data_.empty()) {
      std::fprintf(stderr, "fi_stream: read from empty stream '%s'\n", name_.c_str());
      std::abort();
    }
    T v = data_.front();
    data_.pop_front();
    return v;
  }
  void read(T& v) { v = read(); }
  void write(const T& v) { data_.push_back(v); }

  bool read_nb(T& v) {
    if (data_.empty()) return false;
    v = read();
    return true;
  }
  bool write_nb(const T& v) {
    write(v);
    return true;
  }

  void operator>>(T& v) { read(v); }
  void operator<<(const T& v) { write(v); }

 private:
  std::string name_;
  std::deque<T> data_;
};

}  // namespace hls

#endif  // FI_STREAM_H
