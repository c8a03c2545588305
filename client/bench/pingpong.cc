// pingpong: the floor for one request/response on this machine: a TCP round trip of a
// small message over loopback with blocking sockets and TCP_NODELAY, nothing else.
//
//   pingpong --serve PORT                      echo server (one client at a time)
//   pingpong --connect PORT [--seconds S] [--size B] [--json]
//
// Run the two as separate processes pinned like kvd and kvbench, so that the comparison
// with kvd's single-connection latency is fair (scripts/bench-compare.sh does).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace {

bool ReadFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const char* buf, size_t n) {
  size_t sent = 0;
  while (sent < n) {
    ssize_t r = ::write(fd, buf + sent, n - sent);
    if (r <= 0) return false;
    sent += static_cast<size_t>(r);
  }
  return true;
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

int Serve(uint16_t port, size_t size) {
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = Loopback(port);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(ls, 4) != 0) {
    fmt::print(stderr, "pingpong: cannot listen on {}\n", port);
    return 1;
  }
  std::vector<char> buf(size);
  while (true) {
    int fd = ::accept(ls, nullptr, nullptr);
    if (fd < 0) continue;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (ReadFull(fd, buf.data(), size) && WriteFull(fd, buf.data(), size)) {
    }
    ::close(fd);
  }
}

int Connect(uint16_t port, double seconds, size_t size, bool json) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    fmt::print(stderr, "pingpong: cannot connect to {}\n", port);
    return 1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<char> buf(size, 'p');
  std::vector<double> rtts;
  using Clock = std::chrono::steady_clock;
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int i = 0; i < 1000; ++i) {  // warm-up
    if (!WriteFull(fd, buf.data(), size) || !ReadFull(fd, buf.data(), size)) return 1;
  }
  while (Clock::now() < end) {
    auto t0 = Clock::now();
    if (!WriteFull(fd, buf.data(), size) || !ReadFull(fd, buf.data(), size)) return 1;
    rtts.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  ::close(fd);
  std::sort(rtts.begin(), rtts.end());
  double sum = 0;
  for (double r : rtts) sum += r;
  double mean = sum / static_cast<double>(rtts.size());
  auto q = [&](double p) { return rtts[std::min(rtts.size() - 1, static_cast<size_t>(p * static_cast<double>(rtts.size())))]; };
  if (json) {
    fmt::print("{{\"round_trips\": {}, \"mean_us\": {:.2f}, \"p50_us\": {:.2f}, "
               "\"p99_us\": {:.2f}, \"size\": {}}}\n",
               rtts.size(), mean, q(0.5), q(0.99), size);
  } else {
    fmt::print("pingpong: {} round trips of {} bytes: mean {:.2f} us, p50 {:.2f} us, p99 {:.2f} us\n",
               rtts.size(), size, mean, q(0.5), q(0.99));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  uint16_t serve = 0, connect = 0;
  double seconds = 3;
  size_t size = 32;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--serve") serve = static_cast<uint16_t>(std::stoi(next()));
    else if (a == "--connect") connect = static_cast<uint16_t>(std::stoi(next()));
    else if (a == "--seconds") seconds = std::stod(next());
    else if (a == "--size") size = std::max<size_t>(1, std::stoul(next()));
    else if (a == "--json") json = true;
    else {
      fmt::print(stderr, "usage: pingpong --serve PORT | --connect PORT [--seconds S] "
                         "[--size B] [--json]\n");
      return 2;
    }
  }
  if (serve != 0) return Serve(serve, size);
  if (connect != 0) return Connect(connect, seconds, size, json);
  fmt::print(stderr, "pingpong: give --serve PORT or --connect PORT\n");
  return 2;
}
