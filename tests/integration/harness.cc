#include "tests/integration/harness.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "client/lib/client.h"
#include "common/wire/codec.h"

namespace kvd::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
// The environment variable `name` if set and not empty, else `built`.
std::string BinaryPath(const char* name, const char* built) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0 ? std::string(v) : std::string(built);
}
}  // namespace

std::string KvdBinary() { return BinaryPath("KVD_IT_KVD_BIN", KVD_BIN); }
std::string KvctlBinary() { return BinaryPath("KVD_IT_KVCTL_BIN", KVCTL_BIN); }
std::string SourceDir() { return KVD_SOURCE_DIR; }

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  KVD_ASSERT(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  KVD_ASSERT(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  KVD_ASSERT(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TempDir::TempDir(const std::string& prefix) {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          fmt::format("{}-{}-{}-{:08x}", prefix, ::getpid(), counter++, rd());
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  // Tests may make parts read-only; restore permissions so removal works.
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

namespace {

std::vector<char*> Argv(const std::string& program, const std::vector<std::string>& args,
                        std::vector<std::string>* storage) {
  storage->clear();
  storage->push_back(program);
  storage->insert(storage->end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : *storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  return argv;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for pid up to timeout; kills it after. Returns the exit code.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return ExitCodeOf(status);
    if (r < 0) return -1;
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return ExitCodeOf(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

CommandResult RunCommand(const std::string& program, const std::vector<std::string>& args,
                         const std::string& input, std::chrono::milliseconds timeout) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  KVD_ASSERT(::pipe2(in_pipe, O_CLOEXEC) == 0);
  KVD_ASSERT(::pipe2(out_pipe, O_CLOEXEC) == 0);
  KVD_ASSERT(::pipe2(err_pipe, O_CLOEXEC) == 0);
  std::vector<std::string> storage;
  std::vector<char*> argv = Argv(program, args, &storage);
  pid_t pid = ::fork();
  KVD_ASSERT(pid >= 0);
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(program.c_str(), argv.data());
    std::fprintf(stderr, "exec %s: %s\n", program.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  // Feed stdin and drain both outputs together, so no pipe fills up and blocks.
  CommandResult result;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  ::fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  if (in_fd >= 0) ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  auto deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && Clock::now() < deadline) {
    pollfd fds[3];
    nfds_t n = 0;
    if (out_open) fds[n++] = {out_pipe[0], POLLIN, 0};
    if (err_open) fds[n++] = {err_pipe[0], POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    ::poll(fds, n, 50);
    char buf[65536];
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 || written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      ssize_t r = ::read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (fds[i].fd == out_pipe[0] ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0) {
        (fds[i].fd == out_pipe[0] ? out_open : err_open) = false;
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  result.exit_code = WaitFor(pid, std::max(left, std::chrono::milliseconds(100)));
  return result;
}

CommandResult Kvctl(const std::string& endpoint, const std::vector<std::string>& args,
                    const std::string& input) {
  std::vector<std::string> all{"--endpoints", endpoint};
  all.insert(all.end(), args.begin(), args.end());
  return RunCommand(KvctlBinary(), all, input);
}

KvdProcess::KvdProcess(KvdOptions options) : KvdProcess(std::move(options), fs::path()) {}

KvdProcess::KvdProcess(KvdOptions options, fs::path data_dir)
    : options_(std::move(options)), dir_("kvd-it") {
  data_dir_ = data_dir.empty() ? dir_.path() / "data" : std::move(data_dir);
  config_path_ = dir_.path() / "kvd.yaml";
  log_path_ = options_.log_path.empty() ? dir_.path() / "kvd.log" : options_.log_path;
  port_ = options_.port != 0 ? options_.port : FreePort();
  admin_port_ = options_.admin_port != 0 ? options_.admin_port : FreePort();
  while (admin_port_ == port_) admin_port_ = FreePort();
  WriteConfig();
}

KvdProcess::~KvdProcess() {
  if (pid_ > 0) Kill9();
}

void KvdProcess::WriteConfig() {
  std::ofstream out(config_path_);
  out << "# written by the integration test harness\n" << options_.yaml;
}

pid_t KvdProcess::Spawn() {
  std::vector<std::string> args = {"--config", config_path_.string(), "--data-dir",
                                   data_dir_.string()};
  if (options_.listen_flags) {
    args.insert(args.end(), {"--listen", endpoint(), "--admin-listen", admin_endpoint()});
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<std::string> storage;
  std::vector<char*> argv = Argv(KvdBinary(), args, &storage);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  KVD_ASSERT(log_fd >= 0);
  pid_t pid = ::fork();
  KVD_ASSERT(pid >= 0);
  if (pid == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (options_.file_size_limit_bytes > 0) {
      rlimit lim{options_.file_size_limit_bytes, options_.file_size_limit_bytes};
      ::setrlimit(RLIMIT_FSIZE, &lim);
    }
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

Status KvdProcess::Start(std::chrono::milliseconds deadline_after) {
  KVD_ASSERT(pid_ < 0);
  pid_ = Spawn();
  auto deadline = Clock::now() + deadline_after;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable(
          fmt::format("kvd exited with {} during start-up; log:\n{}", ExitCodeOf(status), log()));
    }
    client::ClientOptions o;
    o.endpoints = {endpoint()};
    o.connect_timeout = std::chrono::milliseconds(200);
    o.request_timeout = std::chrono::milliseconds(300);
    client::Client c(o);
    if (c.Ping("ready?").ok()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Timeout(fmt::format("kvd did not answer PING in time; log:\n{}", log()));
}

CommandResult KvdProcess::RunToExit(std::chrono::milliseconds timeout) {
  KVD_ASSERT(pid_ < 0);
  pid_t pid = Spawn();
  CommandResult r;
  r.exit_code = WaitFor(pid, timeout);
  r.err = log();
  return r;
}

void KvdProcess::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

int KvdProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int code = WaitFor(pid_, timeout);
  pid_ = -1;
  return code;
}

void KvdProcess::SendSignal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

bool KvdProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string KvdProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RawConnection::~RawConnection() { Close(); }

void RawConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

Status RawConnection::Connect(uint16_t port) {
  Close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Status::IOError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Close();
    return Status::Unavailable(fmt::format("connect :{}: {}", port, std::strerror(errno)));
  }
  return Status::Ok();
}

Status RawConnection::Send(std::string_view bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return Status::Unavailable(fmt::format("send: {}", std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status RawConnection::Handshake() {
  wire::Request hello;
  hello.request_id = 0;
  hello.body = wire::HelloRequest{1, 1, "raw-test"};
  std::string frame;
  wire::EncodeRequest(hello, &frame);
  KVD_TRY(Send(frame));
  KVD_ASSIGN_OR_RETURN(wire::Response r, Read());
  return r.ToStatus();
}

Result<wire::Response> RawConnection::Read(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (buf_.size() >= wire::kFrameHeaderBytes) {
      wire::FrameHeader h;
      KVD_TRY(wire::DecodeFrameHeader(buf_, wire::kMaxFrameBytesCeiling, &h));
      if (buf_.size() >= h.frame_bytes()) {
        auto r = wire::DecodeResponse(
            h, std::string_view(buf_).substr(wire::kFrameHeaderBytes, h.body_bytes()));
        buf_.erase(0, h.frame_bytes());
        return r;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Status::Timeout("no response frame in time");
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return Status::Unavailable("connection closed by the server");
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

bool RawConnection::WaitClosed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return true;
  }
  return false;
}

Result<std::pair<int, std::string>> HttpGet(uint16_t port, const std::string& target) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return Status::Unavailable(fmt::format("connect :{}: {}", port, std::strerror(errno)));
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req =
      fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target);
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return Status::IOError("write");
  }
  std::string resp;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  if (resp.size() < 12) return Status::ProtocolError("short HTTP response: " + resp);
  int code = std::atoi(resp.substr(9, 3).c_str());
  size_t body = resp.find("\r\n\r\n");
  return std::make_pair(code, body == std::string::npos ? std::string() : resp.substr(body + 4));
}

}  // namespace kvd::test
