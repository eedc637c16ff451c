// plinth-step: the supervisor of engine steps, so that a step outlives a
// crash of plinthd. It runs in a session of its own, starts each engine in a
// process group of its own and stays its parent to the end.
//
//   plinth-step --serve       steps come from the launcher on fd 3 (the
//                             protocol is step_protocol.h); plinthd and
//                             plinth-runner start one and run every step
//                             through it: no exec of a supervisor per step.
//                             It ends when the launcher is gone and its
//                             last step has ended.
//   plinth-step --dir STEP_DIR [--timeout-ms N] [--grace-ms N] [--remove FILE]...
//               -- PROGRAM ARG...
//                             one step, in the same step dir layout.
//
// For every step (the files are step_protocol.h's):
// - STEP_DIR/lock is held (flock) while the step runs, so a restarted plinthd
//   can tell a running step from a dead one without trusting a pid that may
//   have been reused; it says "SUPERVISOR_PID ENGINE_PID".
// - The engine writes its stdout and stderr to STEP_DIR/out and STEP_DIR/err
//   (0600) itself; whoever follows the step reads them as they grow. No pipe:
//   the engine never sees a broken one, and nothing is copied here.
// - SIGINT for the step goes to the engine's group (a graceful cancel); a
//   timeout does the same; SIGKILL follows after the grace period. SIGTERM
//   kills the group at once. SIGHUP and SIGPIPE are ignored: a dying parent
//   is no reason to stop an apply halfway.
// - When the engine ends, whatever is left of its group is killed (this
//   process is a child subreaper and reaps them), the --remove files (the
//   step's secrets) are deleted, the end is written to STEP_DIR/lock
//   ("exit=<code> signal=<n> timed_out=<0|1> cancelled=<0|1>"), and only
//   then are the launcher's done pipe closed and the lock released.
//
// Nothing here but libc and the standard library, linked statically.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "step_protocol.h"

extern char** environ;

namespace {

namespace proto = plinth::engine::step_protocol;

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Writes all of `n` bytes to a blocking fd; false on any error.
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
  std::fprintf(stderr, "plinth-step: %s\nusage: plinth-step --serve\n       plinth-step --dir STEP_DIR [--timeout-ms N] "
               "[--grace-ms N] [--remove FILE]... -- PROGRAM ARG...\n", why);
  return 125;
}

struct Step {
  proto::RunRequest req;
  proto::StepFiles files;
  int done = -1;             // the launcher's pipe; -1 in --dir mode
  std::string pid_line;      // the first line of STEP_DIR/lock
  pid_t engine = -1;
  int64_t start = 0, kill_at = -1;
  bool timed_out = false, cancelled = false, exited = false;
  int status = 0;  // the engine's, once exited
};

class Supervisor {
 public:
  Supervisor() {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    sigemptyset(&handled_);
    sigaddset(&handled_, SIGINT);
    sigaddset(&handled_, SIGTERM);
    sigaddset(&handled_, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &handled_, nullptr);
    sigfd_ = ::signalfd(-1, &handled_, SFD_CLOEXEC | SFD_NONBLOCK);
  }

  // --serve: requests on `fd` until it closes, then until no step is left.
  int Serve(int fd) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    control_ = fd;
    while (control_ >= 0 || !steps_.empty()) Turn();
    return 0;
  }

  // --dir: one step; this process's exit code says nothing of the step's.
  int RunOne(proto::RunRequest req) {
    std::string error;
    proto::StepFiles files;
    if (!proto::OpenStepFiles(req.dir, &files, &error) || !Start(std::move(req), files, -1, &error)) {
      std::fprintf(stderr, "plinth-step: %s\n", error.c_str());
      return 125;
    }
    while (!steps_.empty()) Turn();
    return 0;
  }

 private:
  // Starts a step; false (and why) when it cannot. Takes the files either
  // way, and the done pipe when it starts.
  bool Start(proto::RunRequest req, proto::StepFiles files, int done, std::string* error) {
    auto step = std::make_unique<Step>();
    step->req = std::move(req);
    step->files = files;
    step->done = done;
    std::vector<char*> argv, envp;
    for (auto& a : step->req.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : step->req.env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, files.out, 1);
    posix_spawn_file_actions_adddup2(&actions, files.err, 2);
    if (!step->req.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, step->req.cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(&step->engine, argv[0], &actions, &attr, argv.data(),
                         done < 0 && step->req.env.empty() ? environ : envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    // The engine has its copies; ours would only keep the files open.
    ::close(step->files.out);
    ::close(step->files.err);
    step->files.out = step->files.err = -1;
    if (rc != 0) {
      *error = "cannot start " + step->req.argv[0] + ": " + std::strerror(rc);
      step->files.Close();
      return false;
    }
    step->pid_line = std::to_string(::getpid()) + " " + std::to_string(step->engine) + "\n";
    ::pwrite(step->files.lock, step->pid_line.data(), step->pid_line.size(), 0);
    step->start = NowMs();
    steps_.push_back(std::move(step));
    return true;
  }

  void Turn() {
    int64_t now = NowMs();
    int timeout = 1000;
    for (auto& s : steps_) {
      Step& st = *s;
      if (st.exited) {
        timeout = std::min(timeout, 5);  // its group's last processes are reaped as they die
        continue;
      }
      if (st.req.timeout_ms > 0 && !st.timed_out && !st.cancelled) {
        if (now - st.start >= st.req.timeout_ms) {
          st.timed_out = true;
          Interrupt(st);
        } else {
          timeout = std::min<int64_t>(timeout, st.start + st.req.timeout_ms - now);
        }
      }
      if (st.kill_at >= 0) {
        if (now >= st.kill_at) ::kill(-st.engine, SIGKILL);
        else timeout = std::min<int64_t>(timeout, st.kill_at - now);
      }
    }
    struct pollfd fds[2] = {{sigfd_, POLLIN, 0}, {control_, POLLIN, 0}};
    int ready = ::poll(fds, control_ >= 0 ? 2 : 1, std::max(timeout, 1));
    if (ready > 0 && (fds[0].revents & POLLIN)) Signals();
    if (ready > 0 && control_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) Requests();
    Reap();
  }

  void Interrupt(Step& st) {
    if (st.kill_at >= 0 || st.exited) return;
    ::kill(-st.engine, SIGINT);
    st.kill_at = NowMs() + st.req.grace_ms;
  }

  void Signals() {
    struct signalfd_siginfo si;
    while (::read(sigfd_, &si, sizeof(si)) == sizeof(si)) {
      if (si.ssi_signo == SIGCHLD) continue;  // Reap() runs every turn
      const pid_t target = si.ssi_code == SI_QUEUE ? si.ssi_int : 0;
      for (auto& s : steps_) {
        Step& st = *s;
        if ((target != 0 && st.engine != target) || st.exited) continue;
        st.cancelled = !st.timed_out;
        if (si.ssi_signo == SIGINT) Interrupt(st);
        else ::kill(-st.engine, SIGKILL);
      }
    }
  }

  void Reap() {
    for (;;) {
      int status = 0;
      pid_t w = ::waitpid(-1, &status, WNOHANG);
      if (w <= 0) break;
      auto it = std::find_if(steps_.begin(), steps_.end(), [w](const auto& s) { return s->engine == w; });
      if (it == steps_.end()) continue;  // a helper the engine left, reparented here
      // Helpers the engine left (plugins, daemonised children) do not
      // outlive the step: killed, and reaped here before the end is told.
      Step& st = **it;
      st.exited = true;
      st.status = status;
      st.kill_at = NowMs() + 2000;  // the most the group is waited for
      ::kill(-st.engine, SIGKILL);
    }
    for (size_t i = 0; i < steps_.size();) {
      Step& st = *steps_[i];
      if (st.exited && ((::kill(-st.engine, 0) != 0 && errno == ESRCH) || NowMs() >= st.kill_at)) {
        Finish(st);
        steps_.erase(steps_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }

  // The engine's group is gone: its secrets go, its end is recorded, and
  // only then is the launcher told (EOF on its done pipe).
  void Finish(Step& st) {
    for (const auto& f : st.req.remove) ::unlink(f.c_str());
    const int status = st.status;
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    // No fsync: the record serves a plinthd that crashed, not a machine that
    // did (after a reboot the engine is gone anyway, and a missing record
    // reads as "the step was cut short").
    char line[128];
    std::snprintf(line, sizeof(line), "exit=%d signal=%d timed_out=%d cancelled=%d\n", exit_code, term_signal,
                  st.timed_out ? 1 : 0, st.cancelled ? 1 : 0);
    ::pwrite(st.files.lock, line, std::strlen(line), static_cast<off_t>(st.pid_line.size()));
    // The lock goes before the launcher is told: a launcher that looked at
    // the step dir the moment Run returned saw it still held (running).
    st.files.Close();
    if (st.done >= 0) ::close(st.done);
  }

  // Requests from the launcher: frames, each with its fds.
  void Requests() {
    for (;;) {
      char buf[64 * 1024];
      char cmsg[CMSG_SPACE(sizeof(int) * 16)];
      struct iovec iov = {buf, sizeof(buf)};
      struct msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cmsg;
      msg.msg_controllen = sizeof(cmsg);
      ssize_t n = ::recvmsg(control_, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (size_t i = 0; i < count; ++i) fds_.push_back(fds[i]);
      }
      if (n <= 0) {
        // The launcher is gone: the running steps go on to their end.
        ::close(control_);
        control_ = -1;
        for (int fd : fds_) ::close(fd);
        fds_.clear();
        return;
      }
      in_.append(buf, static_cast<size_t>(n));
      for (int64_t len; (len = proto::FrameLength(in_)) >= 0;) {
        if (len > proto::kMaxFrame || fds_.size() < static_cast<size_t>(proto::kRunFds)) {
          // Not the launcher speaking: nothing more is taken from it.
          ::close(control_);
          control_ = -1;
          return;
        }
        if (in_.size() < 4 + static_cast<size_t>(len)) break;
        std::vector<std::string> fields = proto::SplitFields(in_.substr(4, static_cast<size_t>(len)));
        in_.erase(0, 4 + static_cast<size_t>(len));
        Handle(fields);
      }
    }
  }

  void Handle(const std::vector<std::string>& fields) {
    int fds[proto::kRunFds];
    for (int& fd : fds) {
      fd = fds_.front();
      fds_.pop_front();
    }
    proto::StepFiles files{fds[0], fds[1], fds[2]};
    const int done = fds[3];
    proto::RunRequest req;
    std::string error;
    if (!proto::DecodeRun(fields, &req)) {
      files.Close();
      error = "malformed run request";
    } else if (Start(std::move(req), files, done, &error)) {
      const Step& st = *steps_.back();
      std::string ok = "ok " + st.pid_line;
      WriteAll(done, ok.data(), ok.size());
      return;
    }
    std::string answer = "error " + error + "\n";
    WriteAll(done, answer.data(), answer.size());
    ::close(done);
  }

  sigset_t handled_;
  int sigfd_ = -1, control_ = -1;
  std::string in_;
  std::deque<int> fds_;
  std::vector<std::unique_ptr<Step>> steps_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--serve") == 0) {
    return Supervisor().Serve(proto::kServeFd);
  }
  proto::RunRequest req;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) return Usage(("missing value after " + a).c_str());
    if (a == "--dir") req.dir = argv[++i];
    else if (a == "--timeout-ms") req.timeout_ms = std::atoll(argv[++i]);
    else if (a == "--grace-ms") req.grace_ms = std::atoll(argv[++i]);
    else if (a == "--remove") req.remove.push_back(argv[++i]);
    else return Usage(("unknown option " + a).c_str());
  }
  if (req.dir.empty()) return Usage("--dir is required");
  if (i >= argc) return Usage("no program after --");
  req.argv.assign(argv + i, argv + argc);
  ::setsid();
  return Supervisor().RunOne(std::move(req));
}
