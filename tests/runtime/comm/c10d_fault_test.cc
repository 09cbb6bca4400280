// Fault tolerance over real processes and the Gloo backend: when a peer dies
// or hangs, the other ranks fail with an error naming the collective and the
// group within the configured timeout — they never hang.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/launcher.h"

extern char** environ;

namespace {

const std::string kDrill = std::string(AUTOSP_BINARY_DIR) + "/bin/comm_fault_drill";

struct Proc {
  pid_t pid;
  std::string err_path;
};

Proc Start(int rank, int world, int port, const std::vector<std::string>& args, int timeout_ms) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.push_back("RANK=" + std::to_string(rank));
  env_strings.push_back("WORLD_SIZE=" + std::to_string(world));
  env_strings.push_back("MASTER_ADDR=127.0.0.1");
  env_strings.push_back("MASTER_PORT=" + std::to_string(port));
  env_strings.push_back("AUTOSP_COMM_TIMEOUT_MS=" + std::to_string(timeout_ms));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{kDrill};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  Proc p;
  p.err_path = ::testing::TempDir() + "drill_" + std::to_string(port) + "_" +
               std::to_string(rank) + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, p.err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_EQ(posix_spawn(&p.pid, kDrill.c_str(), &actions, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  return p;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void RunDrill(const std::string& mode, int timeout_ms) {
  const int world = 3, bad = 1;
  const int port = autosp::cli::PickFreePort();
  std::vector<Proc> procs;
  for (int r = 0; r < world; ++r) {
    procs.push_back(Start(r, world, port, {mode, std::to_string(bad), "2"}, timeout_ms));
  }
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < world; ++r) {
    if (r == bad) continue;
    int status = 0;
    ASSERT_EQ(waitpid(procs[r].pid, &status, 0), procs[r].pid);
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string err = Slurp(procs[r].err_path);
    EXPECT_EQ(ExitCode(status), 3) << err;
    EXPECT_NE(err.find("all_reduce(sum) on group world (rank " + std::to_string(r) + " of 3, gloo)"),
              std::string::npos)
        << err;
    // Bounded by the timeout (plus start-up), never a hang.
    EXPECT_LT(waited, timeout_ms / 1000.0 + 20.0) << err;
  }
  int status = 0;
  if (mode == "hang") {
    kill(procs[bad].pid, SIGKILL);
  }
  ASSERT_EQ(waitpid(procs[bad].pid, &status, 0), procs[bad].pid);
  if (mode == "exit") {
    EXPECT_EQ(ExitCode(status), 42);
  }
}

TEST(C10dFaultTest, DeadPeerFailsOthersNamingCollectiveAndGroup) { RunDrill("exit", 5000); }

TEST(C10dFaultTest, HungPeerTimesOutOthers) { RunDrill("hang", 3000); }

}  // namespace
