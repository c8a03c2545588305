// Harness for integration tests: real kvd processes on loopback, and the kvctl binary.
//
// KvdProcess starts build/server/kvd in its own temporary directory with free loopback
// ports, waits (polling, with a deadline) until it answers PING, and always stops it:
// the destructor kills a process that is still running and removes the directory.
// RunCommand runs a program (kvctl) with arguments and stdin, capturing stdout, stderr
// and the exit code.
//
// Thread-safety: one test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::test {

// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close).
uint16_t FreePort();

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "kvd-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string out;
  std::string err;
};

// Runs `program args...` with `input` on stdin and waits for it (at most `timeout`).
CommandResult RunCommand(const std::string& program, const std::vector<std::string>& args,
                         const std::string& input = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// kvctl with --endpoints already set to `endpoint`.
CommandResult Kvctl(const std::string& endpoint, const std::vector<std::string>& args,
                    const std::string& input = "");

struct KvdOptions {
  // Extra YAML appended to a base config (node.data_dir, server.listen and admin_listen
  // are passed as flags). Use it for storage, limits, ... sections.
  std::string yaml = "storage:\n  durability: always\n";
  std::vector<std::string> extra_args;
  // The client port to use; 0 picks a free one.
  uint16_t port = 0;
  // RLIMIT_FSIZE for the child, in bytes (0 = unlimited): simulates a full disk.
  uint64_t file_size_limit_bytes = 0;
  // The admin port to use; 0 picks a free one.
  uint16_t admin_port = 0;
  // false: start kvd without --listen / --admin-listen, so that a cluster node listens on
  // its own cluster.members entry (`port` and `admin_port` must then name those ports).
  bool listen_flags = true;
  // Where kvd's stdout/stderr go (appended to); empty: kvd.log in the process's temp dir.
  std::filesystem::path log_path;
};

class KvdProcess {
 public:
  explicit KvdProcess(KvdOptions options = {});
  // Uses an existing data directory (e.g. to restart on the same data).
  KvdProcess(KvdOptions options, std::filesystem::path data_dir);
  ~KvdProcess();
  KvdProcess(const KvdProcess&) = delete;
  KvdProcess& operator=(const KvdProcess&) = delete;

  // Starts kvd and waits until it answers PING. Errors: the process exited or did not
  // answer in time (the message includes its log).
  Status Start(std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Starts kvd and waits for it to exit (for config and start-up errors).
  CommandResult RunToExit(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  void Kill9();
  // SIGTERM, then waits; returns the exit code (128 + signal if killed by one).
  int Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void SendSignal(int signal);
  bool running();

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string admin_endpoint() const { return "127.0.0.1:" + std::to_string(admin_port_); }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  uint16_t admin_port() const { return admin_port_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const std::filesystem::path& config_path() const { return config_path_; }
  std::string log() const;  // everything the process wrote to stderr/stdout

 private:
  void WriteConfig();
  pid_t Spawn();

  KvdOptions options_;
  TempDir dir_;
  std::filesystem::path data_dir_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
  pid_t pid_ = -1;
};

// A blocking TCP connection that speaks raw frames, for protocol-level tests.
class RawConnection {
 public:
  RawConnection() = default;
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  Status Connect(uint16_t port);
  // Sends bytes as they are. Errors: the peer closed or reset the connection.
  Status Send(std::string_view bytes);
  // Sends a HELLO for version 1 and reads its answer.
  Status Handshake();
  // Reads one response frame. Errors: kTimeout, kUnavailable (closed), kProtocolError.
  Result<wire::Response> Read(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the server closes the connection (EOF or reset) within timeout, after
  // discarding whatever it sends first.
  bool WaitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void Close();

 private:
  int fd_ = -1;
  std::string buf_;
};

// A minimal HTTP GET on loopback: returns status code and body, or an error.
Result<std::pair<int, std::string>> HttpGet(uint16_t port, const std::string& target);

// Paths of the built binaries (set by CMake). The environment variables KVD_IT_KVD_BIN and
// KVD_IT_KVCTL_BIN override them (e.g. a copy that a concurrent rebuild cannot replace).
std::string KvdBinary();
std::string KvctlBinary();
std::string SourceDir();

}  // namespace kvd::test
