// plinth-step: the supervisor of one engine step, so that the step outlives
// a crash of plinthd. plinthd starts it instead of the engine; it starts the
// engine in a process group of its own and stays its parent to the end:
//
//   plinth-step --dir STEP_DIR [--timeout-ms N] [--grace-ms N] [--remove FILE]...
//               -- PROGRAM ARG...
//
// - The engine's stdout and stderr are copied, as they come, to STEP_DIR/out
//   and STEP_DIR/err (0600) and to this process's own stdout and stderr (the
//   pipes plinthd reads). When plinthd dies those writes fail with EPIPE and
//   stop; the engine never sees a broken pipe, and the files keep everything.
// - SIGINT is passed on to the engine's group (a graceful cancel); a timeout
//   does the same; SIGKILL follows after the grace period. SIGTERM kills the
//   group at once. SIGHUP and SIGPIPE are ignored: a dying parent is no
//   reason to stop an apply halfway.
// - When the engine ends, whatever is left of its group is killed and reaped
//   (this process is a child subreaper), the --remove files (the step's
//   secrets) are deleted, and STEP_DIR/exit is written atomically:
//   "exit=<code> signal=<n> timed_out=<0|1> cancelled=<0|1>".
// - STEP_DIR/lock is held (flock) for as long as this process lives, so a
//   restarted plinthd can tell a running step from a dead one without
//   trusting a pid that may have been reused; STEP_DIR/pid names it.
//
// It runs in a session of its own (setsid). Nothing here but libc: it starts
// for every engine step and must start fast.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Writes all of `n` bytes; false on any error (EPIPE included).
bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int Usage(const char* why) {
  std::fprintf(stderr, "plinth-step: %s\nusage: plinth-step --dir STEP_DIR [--timeout-ms N] [--grace-ms N] "
               "[--remove FILE]... -- PROGRAM ARG...\n", why);
  return 125;
}

// One engine stream: copied to plinthd (while it listens) and to a file.
struct Stream {
  int from = -1;    // read end of the engine's pipe
  int to = -1;      // our stdout or stderr
  int file = -1;    // STEP_DIR/out or err
  bool to_open = true;
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int64_t timeout_ms = 0, grace_ms = 30000;
  std::vector<std::string> remove;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) return Usage(("missing value after " + a).c_str());
    if (a == "--dir") dir = argv[++i];
    else if (a == "--timeout-ms") timeout_ms = std::atoll(argv[++i]);
    else if (a == "--grace-ms") grace_ms = std::atoll(argv[++i]);
    else if (a == "--remove") remove.push_back(argv[++i]);
    else return Usage(("unknown option " + a).c_str());
  }
  if (dir.empty()) return Usage("--dir is required");
  if (i >= argc) return Usage("no program after --");

  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  int sigfd = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);

  ::mkdir(dir.c_str(), 0700);
  std::string lock_path = dir + "/lock";
  int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "plinth-step: cannot lock %s: %s\n", lock_path.c_str(), std::strerror(errno));
    return 125;
  }
  {
    std::string pid = std::to_string(::getpid()) + "\n";
    int fd = ::open((dir + "/pid").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      WriteAll(fd, pid.data(), pid.size());
      ::close(fd);
    }
  }
  Stream streams[2];
  const char* names[2] = {"/out", "/err"};
  int child_ends[2];
  for (int s = 0; s < 2; ++s) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return 125;
    streams[s].from = p[0];
    child_ends[s] = p[1];
    streams[s].to = s == 0 ? 1 : 2;
    streams[s].file = ::open((dir + names[s]).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (streams[s].file < 0) {
      std::fprintf(stderr, "plinth-step: cannot write %s%s: %s\n", dir.c_str(), names[s], std::strerror(errno));
      return 125;
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_ends[0], 1);
  posix_spawn_file_actions_adddup2(&actions, child_ends[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t engine = -1;
  int rc = posix_spawn(&engine, argv[i], &actions, &attr, argv + i, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(child_ends[0]);
  ::close(child_ends[1]);
  int exit_code = -1, term_signal = 0;
  bool timed_out = false, cancelled = false;
  if (rc != 0) {
    std::string msg = std::string("plinth-step: cannot start ") + argv[i] + ": " + std::strerror(rc) + "\n";
    WriteAll(streams[1].file, msg.data(), msg.size());
    WriteAll(2, msg.data(), msg.size());
    exit_code = 127;
  } else {
    for (auto& s : streams) ::fcntl(s.from, F_SETFL, ::fcntl(s.from, F_GETFL) | O_NONBLOCK);
    const int64_t start = NowMs();
    int64_t kill_at = -1;  // SIGKILL after a SIGINT's grace period
    int64_t drain_until = -1;
    bool exited = false;
    int open_streams = 2;
    std::vector<char> buf(64 * 1024);
    auto interrupt = [&] {
      if (kill_at >= 0) return;
      ::kill(-engine, SIGINT);
      kill_at = NowMs() + grace_ms;
    };
    while (open_streams > 0 || !exited) {
      int64_t now = NowMs();
      if (!exited && timeout_ms > 0 && now - start >= timeout_ms && !timed_out && !cancelled) {
        timed_out = true;
        interrupt();
      }
      if (!exited && kill_at >= 0 && now >= kill_at) ::kill(-engine, SIGKILL);
      if (exited && now >= drain_until) break;
      struct pollfd fds[3] = {{streams[0].from, POLLIN, 0}, {streams[1].from, POLLIN, 0}, {sigfd, POLLIN, 0}};
      int ready = ::poll(fds, 3, exited ? 20 : 200);
      if (ready < 0 && errno != EINTR) break;
      for (int s = 0; s < 2; ++s) {
        if (streams[s].from < 0 || !(fds[s].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(streams[s].from, buf.data(), buf.size());
        if (n > 0) {
          WriteAll(streams[s].file, buf.data(), static_cast<size_t>(n));
          if (streams[s].to_open && !WriteAll(streams[s].to, buf.data(), static_cast<size_t>(n))) {
            streams[s].to_open = false;  // plinthd is gone: the file alone keeps the output
          }
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          ::close(streams[s].from);
          streams[s].from = -1;
          --open_streams;
        }
      }
      if (fds[2].revents & POLLIN) {
        struct signalfd_siginfo si;
        while (::read(sigfd, &si, sizeof(si)) == sizeof(si)) {
          if (si.ssi_signo == SIGINT && !exited) {
            cancelled = !timed_out;
            interrupt();
          } else if (si.ssi_signo == SIGTERM && !exited) {
            cancelled = !timed_out;
            ::kill(-engine, SIGKILL);
          }
        }
      }
      if (!exited) {
        int status = 0;
        if (::waitpid(engine, &status, WNOHANG) == engine) {
          exited = true;
          if (WIFEXITED(status)) exit_code = WEXITSTATUS(status);
          if (WIFSIGNALED(status)) term_signal = WTERMSIG(status);
          // Helpers the engine left (plugins, daemonised children) do not
          // outlive the step; the pipes get a moment to drain.
          ::kill(-engine, SIGKILL);
          drain_until = NowMs() + 2000;
        }
      }
    }
    // Reap what is left (reparented here as subreaper).
    for (int64_t until = NowMs() + 2000; NowMs() < until;) {
      pid_t w = ::waitpid(-1, nullptr, WNOHANG);
      if (w < 0) break;
      if (w == 0) ::usleep(1000);
    }
  }
  for (const auto& f : remove) ::unlink(f.c_str());
  // No fsync: the record serves a plinthd that crashed, not a machine that
  // did (after a reboot the engine is gone anyway, and a missing record
  // reads as "the step was cut short").
  for (auto& s : streams) ::close(s.file);
  char line[128];
  int len = std::snprintf(line, sizeof(line), "exit=%d signal=%d timed_out=%d cancelled=%d\n", exit_code, term_signal,
                          timed_out ? 1 : 0, cancelled ? 1 : 0);
  std::string tmp = dir + "/exit.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    WriteAll(fd, line, static_cast<size_t>(len));
    ::close(fd);
    ::rename(tmp.c_str(), (dir + "/exit").c_str());
  }
  return 0;
}
