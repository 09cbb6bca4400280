// Design: one fork/exec per rank, each in its own process group (so teardown
// also reaches the rank's own children); one pipe per rank for stdout and one
// for stderr; a poll() loop relays whole lines with a rank prefix and reaps
// exited ranks. The first failure triggers SIGTERM to every other rank, then
// SIGKILL after a grace period.
#include "cli/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

namespace autosp::cli {
namespace {

volatile sig_atomic_t g_interrupted = 0;

void OnInterrupt(int signal_number) { g_interrupted = signal_number; }

struct Stream {
  int fd = -1;
  FILE* sink = nullptr;
  std::string pending;  // bytes of a line not yet terminated
};

struct Rank {
  int index = 0;
  pid_t pid = -1;
  Stream out, err;
  std::optional<int> exit_code;  // set once reaped
  std::string how;               // "exited with code 3", "killed by signal 9"
};

void WriteLine(FILE* sink, const std::string& prefix, std::string_view line) {
  std::string text = prefix;
  text.append(line);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), sink);
  std::fflush(sink);
}

// Reads what is available; emits complete lines. Returns false on EOF.
bool Relay(Stream& s, const std::string& prefix) {
  char buffer[65536];
  const ssize_t n = ::read(s.fd, buffer, sizeof(buffer));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    if (!s.pending.empty()) WriteLine(s.sink, prefix, s.pending);
    s.pending.clear();
    ::close(s.fd);
    s.fd = -1;
    return false;
  }
  s.pending.append(buffer, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t nl; (nl = s.pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    WriteLine(s.sink, prefix, std::string_view(s.pending).substr(start, nl - start));
  }
  s.pending.erase(0, start);
  return true;
}

[[noreturn]] void ExecRank(const LaunchOptions& options, int rank, int out_fd, int err_fd,
                           int threads_per_rank) {
  ::setpgid(0, 0);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(err_fd, STDERR_FILENO);
  const std::string n = std::to_string(options.num_ranks);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", n.c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", n.c_str(), 1);
  ::setenv("GROUP_RANK", "0", 1);
  ::setenv("MASTER_ADDR", options.master_addr.c_str(), 1);
  ::setenv("MASTER_PORT", std::to_string(options.master_port).c_str(), 1);
  // Like torchrun: ranks sharing a host should not each start one thread per core.
  ::setenv("OMP_NUM_THREADS", std::to_string(threads_per_rank).c_str(), /*overwrite=*/0);
  std::vector<char*> argv;
  for (const auto& a : options.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "autosp launch: cannot run '%s': %s\n", argv[0], std::strerror(errno));
  std::_Exit(127);
}

std::string Describe(int status, int* code) {
  if (WIFEXITED(status)) {
    *code = WEXITSTATUS(status);
    return fmt::format("exited with code {}", *code);
  }
  if (WIFSIGNALED(status)) {
    *code = 128 + WTERMSIG(status);
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
  }
  *code = 1;
  return "stopped";
}

}  // namespace

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 29500;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 29500;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

int Launch(const LaunchOptions& options_in) {
  LaunchOptions options = options_in;
  if (options.master_port == 0) options.master_port = PickFreePort();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads_per_rank = std::max(1, static_cast<int>(cores) / options.num_ranks);

  struct sigaction action{};
  action.sa_handler = OnInterrupt;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  std::fflush(stdout);
  std::fflush(stderr);

  std::vector<Rank> ranks(options.num_ranks);
  for (int r = 0; r < options.num_ranks; ++r) {
    int out_pipe[2], err_pipe[2];
    if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) {
      std::fprintf(stderr, "autosp launch: pipe failed: %s\n", std::strerror(errno));
      return 1;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(out_pipe[0]);
      ::close(err_pipe[0]);
      ExecRank(options, r, out_pipe[1], err_pipe[1], threads_per_rank);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (pid < 0) {
      std::fprintf(stderr, "autosp launch: fork failed: %s\n", std::strerror(errno));
      return 1;
    }
    ::setpgid(pid, pid);  // also set here, to win the race with the child
    ranks[r] = Rank{r, pid, {out_pipe[0], stdout, ""}, {err_pipe[0], stderr, ""}, {}, ""};
  }

  std::optional<int> first_failure;  // rank index
  std::optional<std::chrono::steady_clock::time_point> kill_deadline;
  bool killed = false;
  auto stop_all = [&](int sig) {
    for (auto& rank : ranks) {
      if (!rank.exit_code) ::kill(-rank.pid, sig);
    }
  };

  for (;;) {
    // Relay output.
    std::vector<pollfd> fds;
    std::vector<Stream*> streams;
    std::vector<int> owners;
    for (auto& rank : ranks) {
      for (Stream* s : {&rank.out, &rank.err}) {
        if (s->fd < 0) continue;
        fds.push_back({s->fd, POLLIN, 0});
        streams.push_back(s);
        owners.push_back(rank.index);
      }
    }
    if (!fds.empty()) {
      ::poll(fds.data(), fds.size(), 100);
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          const std::string prefix =
              options.prefix_output ? fmt::format("[rank {}] ", owners[i]) : "";
          Relay(*streams[i], prefix);
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    // Reap.
    for (auto& rank : ranks) {
      if (rank.exit_code) continue;
      int status = 0;
      if (::waitpid(rank.pid, &status, WNOHANG) != rank.pid) continue;
      int code = 0;
      rank.how = Describe(status, &code);
      rank.exit_code = code;
      if (code != 0 && !first_failure && !g_interrupted) {
        first_failure = rank.index;
        std::fprintf(stderr, "autosp launch: rank %d (pid %d) %s; stopping the other ranks\n",
                     rank.index, rank.pid, rank.how.c_str());
        stop_all(SIGTERM);
        kill_deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(options.kill_grace_ms);
      }
    }
    if (g_interrupted && !kill_deadline) {
      std::fprintf(stderr, "autosp launch: interrupted; stopping all ranks\n");
      stop_all(SIGTERM);
      kill_deadline = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(options.kill_grace_ms);
    }
    if (kill_deadline && !killed && std::chrono::steady_clock::now() > *kill_deadline) {
      std::fprintf(stderr, "autosp launch: ranks still running after %d ms; sending SIGKILL\n",
                   options.kill_grace_ms);
      stop_all(SIGKILL);
      killed = true;
    }

    bool all_done = true;
    for (auto& rank : ranks) {
      all_done = all_done && rank.exit_code && rank.out.fd < 0 && rank.err.fd < 0;
      // A rank that exited may leave children holding its pipes; stop waiting
      // for output once it has been reaped and a teardown is under way.
      if (rank.exit_code && kill_deadline && killed) {
        for (Stream* s : {&rank.out, &rank.err}) {
          if (s->fd >= 0) ::close(s->fd), s->fd = -1;
        }
      }
    }
    if (all_done) break;
  }

  if (g_interrupted) return 128 + g_interrupted;
  if (!first_failure) return 0;
  for (const auto& rank : ranks) {
    if (rank.index != *first_failure && rank.exit_code != 0) {
      std::fprintf(stderr, "autosp launch: rank %d %s\n", rank.index, rank.how.c_str());
    }
  }
  std::fprintf(stderr, "autosp launch: failed: rank %d %s\n", *first_failure,
               ranks[*first_failure].how.c_str());
  return *ranks[*first_failure].exit_code;
}

}  // namespace autosp::cli
