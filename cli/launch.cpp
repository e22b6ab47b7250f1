// scfm launch --nproc N [--master-port P] -- COMMAND...
//
// Starts N local ranks of COMMAND with the torchrun environment (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and, unless already set, OMP_NUM_THREADS = cores/N.
// Like torchrun, when one rank fails the others are stopped (SIGTERM, then SIGKILL after 10 s)
// and launch exits with the first failure's code.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "commands.h"
#include "scfm/util/error.h"

extern char** environ;

namespace scfm::cli {

namespace {
struct LaunchArgs {
  int nproc = 1;
  int master_port = 29500;
  std::string master_addr = "127.0.0.1";
  std::vector<std::string> command;
};

int launch(const LaunchArgs& a) {
  if (a.command.empty()) throw Error("launch: give the command after --, e.g. scfm launch --nproc 2 -- scfm pretrain ...");
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<pid_t> pids;
  for (int r = 0; r < a.nproc; ++r) {
    std::vector<std::string> env;
    bool has_omp = false;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string s = *e;
      for (const char* k : {"RANK=", "LOCAL_RANK=", "WORLD_SIZE=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT="})
        if (s.rfind(k, 0) == 0) s.clear();
      if (s.rfind("OMP_NUM_THREADS=", 0) == 0) has_omp = true;
      if (!s.empty()) env.push_back(s);
    }
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(a.nproc));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(a.nproc));
    env.push_back("MASTER_ADDR=" + a.master_addr);
    env.push_back("MASTER_PORT=" + std::to_string(a.master_port));
    if (!has_omp) env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1u, cores / a.nproc)));
    std::vector<char*> envp, argv;
    for (auto& s : env) envp.push_back(const_cast<char*>(s.c_str()));
    envp.push_back(nullptr);
    for (auto& s : a.command) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()) != 0) {
      for (pid_t p : pids) kill(p, SIGKILL);
      throw Error("launch: cannot start '" + a.command[0] + "'");
    }
    pids.push_back(pid);
  }
  int first_failure = 0;
  size_t running = pids.size();
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int status = 0;
    pid_t done = waitpid(-1, &status, WNOHANG);
    if (done <= 0) {
      if (std::chrono::steady_clock::now() > deadline)
        for (pid_t p : pids)
          if (p > 0) kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    for (size_t r = 0; r < pids.size(); ++r) {
      if (pids[r] != done) continue;
      pids[r] = -1;
      --running;
      if (code != 0 && first_failure == 0) {
        first_failure = code;
        std::cerr << "scfm launch: rank " << r << " exited with code " << code << "; stopping the other ranks\n";
        for (pid_t p : pids)
          if (p > 0) kill(p, SIGTERM);
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      }
    }
  }
  return first_failure;
}
}  // namespace

void add_launch(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("launch", "Start N local ranks of a command the torchrun way (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
  auto a = std::make_shared<LaunchArgs>();
  cmd->add_option("--nproc", a->nproc, "Processes to start")->check(CLI::Range(1, 1024));
  cmd->add_option("--master-port", a->master_port, "Port of rank 0's rendezvous store")->check(CLI::Range(1, 65535));
  cmd->add_option("--master-addr", a->master_addr, "Address of rank 0");
  cmd->add_option("command", a->command, "The command, after --")->required();
  cmd->callback([a] {
    int code = launch(*a);
    if (code != 0) std::exit(code);
  });
}

}  // namespace scfm::cli
