#include "plinth/engine/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace plinth::engine {
namespace {

// Splits a byte stream into lines of at most kMaxLineBytes.
class LineSplitter {
 public:
  explicit LineSplitter(OutputLine::Stream stream) : stream_(stream) {}

  void Feed(const char* data, size_t n, const std::function<void(const OutputLine&)>& emit) {
    while (n > 0) {
      const char* nl = static_cast<const char*>(std::memchr(data, '\n', n));
      size_t take = nl ? static_cast<size_t>(nl - data) : n;
      size_t room = kMaxLineBytes - pending_.size();
      if (take > room) {
        pending_.append(data, room);
        Emit(emit, /*continued=*/true);
        data += room;
        n -= room;
        continue;
      }
      pending_.append(data, take);
      data += take;
      n -= take;
      if (nl) {
        Emit(emit, false);
        ++data;
        --n;
      }
    }
  }

  void Flush(const std::function<void(const OutputLine&)>& emit) {
    if (!pending_.empty()) Emit(emit, false);
  }

 private:
  void Emit(const std::function<void(const OutputLine&)>& emit, bool continued) {
    if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
    OutputLine line{stream_, std::move(pending_), continued};
    pending_.clear();
    if (emit) emit(line);
  }

  OutputLine::Stream stream_;
  std::string pending_;
};

std::string EnvValue(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env) {
    if (absl::StartsWith(e, name + "=")) return e.substr(name.size() + 1);
  }
  return "";
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

std::string FindProgram(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) return name;
  for (absl::string_view dir : absl::StrSplit(path_env, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return "";
}

PosixProcessLauncher::PosixProcessLauncher() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

absl::StatusOr<ProcessResult> PosixProcessLauncher::Run(const ProcessSpec& spec,
                                                        const std::function<void(const OutputLine&)>& on_line,
                                                        CancelToken* cancel,
                                                        const std::function<void(pid_t)>& on_start) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("process: empty argv");
  std::string path_env = EnvValue(spec.env, "PATH");
  if (path_env.empty()) {
    const char* own = std::getenv("PATH");
    path_env = own ? own : "/usr/bin:/bin";
  }
  std::string program = FindProgram(spec.argv[0], path_env);
  if (program.empty() || !IsExecutableFile(program)) {
    return absl::NotFoundError(absl::StrCat("program \"", spec.argv[0], "\" not found",
                                            spec.argv[0].find('/') == std::string::npos
                                                ? absl::StrCat(" on PATH (", path_env, ")")
                                                : std::string(" or not executable")));
  }
  if (!spec.cwd.empty()) {
    struct stat st;
    if (::stat(spec.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat("working directory ", spec.cwd, " does not exist"));
    }
  }

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigfillset(&default_signals);
  posix_spawnattr_setsigmask(&attr, &no_signals);        // the daemon blocks SIGTERM/SIGINT; children must not
  posix_spawnattr_setsigdefault(&attr, &default_signals);  // and must not inherit SIG_IGN for SIGPIPE
  posix_spawnattr_setpgroup(&attr, 0);                     // a new process group, id = pid
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv, envp;
  std::vector<std::string> argv_copy = spec.argv, env_copy = spec.env;
  for (auto& a : argv_copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);

  absl::Time start = absl::Now();
  pid_t pid = -1;
  int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    if (rc == ENOENT) return absl::NotFoundError(absl::StrCat("program ", program, " not found"));
    return absl::FailedPreconditionError(absl::StrCat("cannot start ", program, ": ", std::strerror(rc)));
  }
  if (on_start) on_start(pid);
  SetNonBlocking(out_pipe[0]);
  SetNonBlocking(err_pipe[0]);

  ProcessResult result;
  LineSplitter out_lines(OutputLine::Stream::kStdout), err_lines(OutputLine::Stream::kStderr);
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool exited = false, sigint_sent = false, sigkill_sent = false;
  int idle_polls = 0;
  absl::Time sigint_at;
  absl::Time deadline = spec.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : start + spec.timeout;
  absl::Time drain_deadline = absl::InfiniteFuture();
  int status = 0;
  // A pipe holds 64 KiB: a larger buffer reads no more per call, and with
  // hundreds of jobs at once each buffer is resident memory.
  std::vector<char> buf(64 * 1024);

  while (open_fds > 0 || !exited) {
    absl::Time now = absl::Now();
    // Cancel and timeout: SIGINT to the group, SIGKILL after the grace period.
    if (!exited && !sigint_sent && ((cancel && cancel->cancelled()) || now >= deadline)) {
      if (now >= deadline) result.timed_out = true; else result.cancelled = true;
      ::kill(-pid, SIGINT);
      sigint_sent = true;
      sigint_at = now;
    }
    if (!exited && sigint_sent && !sigkill_sent && now >= sigint_at + spec.kill_grace) {
      ::kill(-pid, SIGKILL);
      sigkill_sent = true;
    }
    if (!exited) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        // Whatever else is left in the group (daemonised helpers, plugins)
        // must not outlive the step: kill it, then give the pipes a moment.
        ::kill(-pid, SIGKILL);
        drain_deadline = absl::Now() + absl::Seconds(2);
      }
    }
    if (open_fds == 0) {
      if (exited) break;
      // The pipes close a moment before the exit can be reaped: poll the
      // exit finely at first (it is usually there within microseconds),
      // then at a relaxed pace (a child that closed its output but runs on).
      ::usleep(++idle_polls < 50 ? 100 : 2000);
      continue;
    }
    if (exited && absl::Now() > drain_deadline) break;
    int ready = ::poll(fds, 2, exited ? 20 : 50);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      for (;;) {
        ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
        if (n > 0) {
          (i == 0 ? out_lines : err_lines).Feed(buf.data(), static_cast<size_t>(n), on_line);
          if (static_cast<size_t>(n) < buf.size()) break;
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open_fds;
        }
        break;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  out_lines.Flush(on_line);
  err_lines.Flush(on_line);
  // Reap the rest of the group (reparented to us as subreaper) until none
  // is left; they were sent SIGKILL above.
  for (absl::Time until = absl::Now() + absl::Seconds(2); absl::Now() < until;) {
    pid_t w = ::waitpid(-pid, nullptr, WNOHANG);
    if (w < 0) break;  // ECHILD: nothing left in the group
    if (w == 0) ::usleep(1000);
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  result.elapsed = absl::Now() - start;
  return result;
}

}  // namespace plinth::engine
