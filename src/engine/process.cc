#include "plinth/engine/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

constexpr char kStepsDir[] = ".plinth-steps";

// STEP_DIR/exit as plinth-step writes it; false when it is not there.
bool ReadExitRecord(const std::string& dir, ProcessResult* result) {
  std::ifstream in(dir + "/exit");
  if (!in) return false;
  std::string line;
  std::getline(in, line);
  int code = -1, sig = 0, timed_out = 0, cancelled = 0;
  if (std::sscanf(line.c_str(), "exit=%d signal=%d timed_out=%d cancelled=%d", &code, &sig, &timed_out, &cancelled) != 4) {
    return false;
  }
  result->exit_code = code;
  result->signal = sig;
  result->timed_out = timed_out != 0;
  result->cancelled = cancelled != 0;
  return true;
}

// True while the step's supervisor lives (it holds STEP_DIR/lock).
bool SupervisorAlive(const std::string& dir) {
  int fd = ::open((dir + "/lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool alive = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return alive;
}

void RemoveStepDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace

std::string StepDir(const std::string& workspace_dir, const std::string& step) {
  return (std::filesystem::path(workspace_dir) / kStepsDir / step).string();
}

std::string FindStepSupervisor() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  std::string candidate = (self.parent_path() / "plinth-step").string();
  return IsExecutableFile(candidate) ? candidate : "";
}

std::vector<LeftStep> FindSteps(const std::string& workspace_dir) {
  std::vector<LeftStep> steps;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(std::filesystem::path(workspace_dir) / kStepsDir, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_directory()) continue;
    LeftStep s;
    s.dir = it->path().string();
    s.name = it->path().filename().string();
    s.running = SupervisorAlive(s.dir);
    ProcessResult ignored;
    s.ended = ReadExitRecord(s.dir, &ignored);
    steps.push_back(std::move(s));
  }
  return steps;
}

absl::StatusOr<ProcessResult> FollowStep(const std::string& step_dir,
                                         const std::function<void(const OutputLine&)>& on_line, CancelToken* cancel,
                                         int64_t skip_stdout, int64_t skip_stderr) {
  absl::Time start = absl::Now();
  struct Follow {
    int fd = -1;
    int64_t skip = 0;  // whole lines still to skip
    LineSplitter lines;
  };
  Follow files[2] = {{-1, skip_stdout, LineSplitter(OutputLine::Stream::kStdout)},
                     {-1, skip_stderr, LineSplitter(OutputLine::Stream::kStderr)}};
  std::vector<char> buf(64 * 1024);
  auto read_new = [&] {
    for (int i = 0; i < 2; ++i) {
      Follow& f = files[i];
      if (f.fd < 0) f.fd = ::open((step_dir + (i == 0 ? "/out" : "/err")).c_str(), O_RDONLY | O_CLOEXEC);
      if (f.fd < 0) continue;
      for (;;) {
        ssize_t n = ::read(f.fd, buf.data(), buf.size());
        if (n <= 0) break;
        const char* data = buf.data();
        size_t left = static_cast<size_t>(n);
        while (f.skip > 0 && left > 0) {
          const char* nl = static_cast<const char*>(std::memchr(data, '\n', left));
          if (nl == nullptr) {
            left = 0;
            break;
          }
          --f.skip;
          left -= static_cast<size_t>(nl + 1 - data);
          data = nl + 1;
        }
        if (left > 0) f.lines.Feed(data, left, on_line);
      }
    }
  };
  bool interrupted = false;
  while (SupervisorAlive(step_dir)) {
    read_new();
    if (cancel != nullptr && cancel->cancelled() && !interrupted) {
      interrupted = true;
      std::ifstream pid_file(step_dir + "/pid");
      pid_t pid = 0;
      // The lock is held, so the pid in the file is still the supervisor's.
      if (pid_file >> pid && pid > 1 && SupervisorAlive(step_dir)) ::kill(pid, SIGINT);
    }
    ::usleep(100 * 1000);
  }
  read_new();
  for (auto& f : files) {
    f.lines.Flush(on_line);
    if (f.fd >= 0) ::close(f.fd);
  }
  ProcessResult result;
  bool recorded = ReadExitRecord(step_dir, &result);
  result.elapsed = absl::Now() - start;
  RemoveStepDir(step_dir);
  if (!recorded) {
    return absl::AbortedError("the step's supervisor (plinth-step) ended without recording the step's end");
  }
  return result;
}

std::string FindProgram(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) return name;
  for (absl::string_view dir : absl::StrSplit(path_env, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return "";
}

PosixProcessLauncher::PosixProcessLauncher(std::string supervisor) : supervisor_(std::move(supervisor)) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
}

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

  // Under the supervisor, plinth-step runs in a session of its own and
  // starts the engine; signals go to plinth-step, which passes them on.
  const bool supervised = !supervisor_.empty() && !spec.step_dir.empty();
  std::vector<std::string> argv_copy = spec.argv, env_copy = spec.env;
  if (supervised) {
    std::error_code ec;
    std::filesystem::path dir(spec.step_dir);
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat("cannot create ", dir.parent_path().string(), ": ", ec.message()));
    }
    argv_copy = {supervisor_, "--dir", spec.step_dir, "--grace-ms", absl::StrCat(absl::ToInt64Milliseconds(spec.kill_grace))};
    if (spec.timeout != absl::InfiniteDuration()) {
      argv_copy.insert(argv_copy.end(), {"--timeout-ms", absl::StrCat(absl::ToInt64Milliseconds(spec.timeout))});
    }
    for (const auto& f : spec.remove_on_exit) argv_copy.insert(argv_copy.end(), {"--remove", f});
    argv_copy.push_back("--");
    argv_copy.push_back(program);
    argv_copy.insert(argv_copy.end(), spec.argv.begin() + 1, spec.argv.end());
    program = supervisor_;
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
  // Supervised: a new session (and so a new group, id = pid), detached from
  // whatever group plinthd runs in.
  posix_spawnattr_setflags(&attr, (supervised ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP) | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv, envp;
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
      // The supervisor counts the timeout and the grace period itself; it
      // is told of a cancel, and stopped if it outlives its own deadlines.
      if (!supervised || !result.timed_out) ::kill(supervised ? pid : -pid, SIGINT);
      sigint_sent = true;
      sigint_at = now;
    }
    const absl::Duration grace = supervised ? spec.kill_grace + absl::Seconds(5) : spec.kill_grace;
    if (!exited && sigint_sent && !sigkill_sent && now >= sigint_at + grace) {
      ::kill(supervised ? pid : -pid, supervised ? SIGTERM : SIGKILL);
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
  if (supervised) {
    // The engine's end as the supervisor saw it.
    ProcessResult recorded;
    if (ReadExitRecord(spec.step_dir, &recorded)) {
      result.exit_code = recorded.exit_code;
      result.signal = recorded.signal;
      result.timed_out = result.timed_out || recorded.timed_out;
      result.cancelled = !result.timed_out && (result.cancelled || recorded.cancelled);
    } else {
      result.exit_code = -1;
      result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    }
    for (const auto& f : spec.remove_on_exit) ::unlink(f.c_str());
    RemoveStepDir(spec.step_dir);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  result.elapsed = absl::Now() - start;
  return result;
}

}  // namespace plinth::engine
