#include "plinth/engine/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "step_protocol.h"

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

// The step's end as plinth-step recorded it (the second line of
// STEP_DIR/lock; STEP_DIR/exit from an older plinth-step); false when it is
// not there.
bool ReadExitRecord(const std::string& dir, ProcessResult* result) {
  std::string line;
  std::ifstream old_record(dir + "/exit");
  if (old_record) {
    std::getline(old_record, line);
  } else {
    std::ifstream in(dir + "/lock");
    std::getline(in, line);
    if (!std::getline(in, line)) return false;
  }
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

// A step's output files (STEP_DIR/out and err), read into lines as they
// grow; the first `skip` whole lines of each are passed over (seen before).
class StepOutput {
 public:
  StepOutput(const std::string& dir, int64_t skip_stdout = 0, int64_t skip_stderr = 0)
      : dir_(dir), files_{{-1, skip_stdout, LineSplitter(OutputLine::Stream::kStdout)},
                          {-1, skip_stderr, LineSplitter(OutputLine::Stream::kStderr)}} {}
  ~StepOutput() {
    for (auto& f : files_) {
      if (f.fd >= 0) ::close(f.fd);
    }
  }

  // Delivers what was written since the last call; true when there was some.
  bool ReadNew(const std::function<void(const OutputLine&)>& on_line) {
    bool any = false;
    for (int i = 0; i < 2; ++i) {
      File& f = files_[i];
      if (f.fd < 0) f.fd = ::open((dir_ + (i == 0 ? "/out" : "/err")).c_str(), O_RDONLY | O_CLOEXEC);
      if (f.fd < 0) continue;
      for (;;) {
        ssize_t n = ::read(f.fd, buf_.data(), buf_.size());
        if (n <= 0) break;
        any = true;
        const char* data = buf_.data();
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
        if (static_cast<size_t>(n) < buf_.size()) break;
      }
    }
    return any;
  }

  // The rest, and the last line without its newline.
  void Finish(const std::function<void(const OutputLine&)>& on_line) {
    ReadNew(on_line);
    for (auto& f : files_) f.lines.Flush(on_line);
  }

 private:
  struct File {
    int fd = -1;
    int64_t skip = 0;  // whole lines still to skip
    LineSplitter lines;
  };
  std::string dir_;
  File files_[2];
  std::vector<char> buf_ = std::vector<char>(64 * 1024);
};

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
  StepOutput output(step_dir, skip_stdout, skip_stderr);
  bool interrupted = false;
  while (SupervisorAlive(step_dir)) {
    output.ReadNew(on_line);
    if (cancel != nullptr && cancel->cancelled() && !interrupted) {
      interrupted = true;
      std::ifstream pid_file(step_dir + "/lock");
      if (!(pid_file.peek() >= '0' && pid_file.peek() <= '9')) pid_file = std::ifstream(step_dir + "/pid");
      pid_t supervisor = 0, engine = 0;
      // The lock is held, so the pid in the file is still the supervisor's.
      // It serves other steps too: the signal names the step's engine.
      if (pid_file >> supervisor && supervisor > 1 && SupervisorAlive(step_dir)) {
        if (pid_file >> engine && engine > 1) {
          union sigval v;
          v.sival_int = engine;
          ::sigqueue(supervisor, SIGINT, v);
        } else {
          ::kill(supervisor, SIGINT);  // a one-step plinth-step of an older plinth
        }
      }
    }
    ::usleep(100 * 1000);
  }
  output.Finish(on_line);
  ProcessResult result;
  bool recorded = ReadExitRecord(step_dir, &result);
  result.elapsed = absl::Now() - start;
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

// The launcher's `plinth-step --serve`: started on first use, and again
// when it is found dead. One request at a time (a start takes well under a
// millisecond); the steps themselves run concurrently.
struct PosixProcessLauncher::Shared {
  absl::Mutex mu;
  pid_t pid ABSL_GUARDED_BY(mu) = -1;
  int sock ABSL_GUARDED_BY(mu) = -1;
};

namespace {

namespace proto = step_protocol;

void CloseBoth(int p[2]) {
  ::close(p[0]);
  ::close(p[1]);
}

// Reads a step's two pipes into lines, as they come.
class PipeReader {
 public:
  PipeReader(int out, int err) : fds_{{out, POLLIN, 0}, {err, POLLIN, 0}} {
    SetNonBlocking(out);
    SetNonBlocking(err);
  }
  ~PipeReader() {
    for (auto& f : fds_) {
      if (f.fd >= 0) ::close(f.fd);
    }
  }
  int open() const { return open_; }

  // Waits up to `timeout_ms` for output and delivers what came.
  void Poll(int timeout_ms, const std::function<void(const OutputLine&)>& on_line) {
    int ready = ::poll(fds_, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      for (auto& f : fds_) Drop(f);
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds_[i].fd < 0 || !(fds_[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      for (;;) {
        ssize_t n = ::read(fds_[i].fd, buf_.data(), buf_.size());
        if (n > 0) {
          (i == 0 ? out_ : err_).Feed(buf_.data(), static_cast<size_t>(n), on_line);
          if (static_cast<size_t>(n) < buf_.size()) break;
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) Drop(fds_[i]);
        break;
      }
    }
  }

  void Finish(const std::function<void(const OutputLine&)>& on_line) {
    for (auto& f : fds_) Drop(f);
    out_.Flush(on_line);
    err_.Flush(on_line);
  }

 private:
  void Drop(struct pollfd& f) {
    if (f.fd < 0) return;
    ::close(f.fd);
    f.fd = -1;
    --open_;
  }

  struct pollfd fds_[2];
  int open_ = 2;
  LineSplitter out_{OutputLine::Stream::kStdout}, err_{OutputLine::Stream::kStderr};
  // A pipe holds 64 KiB by default: a larger buffer reads no more per call,
  // and with hundreds of jobs at once each buffer is resident memory.
  std::vector<char> buf_ = std::vector<char>(64 * 1024);
};

bool SendAll(int sock, const std::string& frame, const int* fds, int nfds) {
  size_t off = 0;
  while (off < frame.size()) {
    struct iovec iov = {const_cast<char*>(frame.data() + off), frame.size() - off};
    struct msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char cmsg[CMSG_SPACE(sizeof(int) * proto::kRunFds)] = {};
    if (off == 0 && nfds > 0) {
      msg.msg_control = cmsg;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t w = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

PosixProcessLauncher::PosixProcessLauncher(std::string supervisor)
    : supervisor_(std::move(supervisor)), shared_(std::make_unique<Shared>()) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
}

PosixProcessLauncher::~PosixProcessLauncher() {
  absl::MutexLock lock(&shared_->mu);
  // The supervisor sees EOF and ends once its running steps have ended.
  if (shared_->sock >= 0) ::close(shared_->sock);
  if (shared_->pid > 0) ::waitpid(shared_->pid, nullptr, WNOHANG);
}

absl::Status PosixProcessLauncher::StartSupervisor() {
  Shared& sh = *shared_;
  if (sh.sock >= 0) {
    if (::waitpid(sh.pid, nullptr, WNOHANG) == 0) return absl::OkStatus();
    ::close(sh.sock);  // it died; a new one takes over
    sh.sock = -1;
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::InternalError(absl::StrCat("socketpair: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pair[1], proto::kServeFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigfillset(&default_signals);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &default_signals);
  // A session of its own, detached from whatever group plinthd runs in.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string arg0 = supervisor_, arg1 = "--serve";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, supervisor_.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pair[1]);
  if (rc != 0) {
    ::close(pair[0]);
    return absl::FailedPreconditionError(absl::StrCat("cannot start the step supervisor ", supervisor_, ": ",
                                                      std::strerror(rc)));
  }
  sh.pid = pid;
  sh.sock = pair[0];
  return absl::OkStatus();
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
  if (!supervisor_.empty() && !spec.step_dir.empty()) return RunSupervised(spec, program, on_line, cancel, on_start);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    CloseBoth(out_pipe);
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

  std::vector<std::string> argv_copy = spec.argv, env_copy = spec.env;
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

  ProcessResult result;
  PipeReader pipes(out_pipe[0], err_pipe[0]);
  bool exited = false, sigint_sent = false, sigkill_sent = false;
  int idle_polls = 0;
  absl::Time sigint_at;
  absl::Time deadline = spec.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : start + spec.timeout;
  absl::Time drain_deadline = absl::InfiniteFuture();
  int status = 0;
  while (pipes.open() > 0 || !exited) {
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
    if (pipes.open() == 0) {
      if (exited) break;
      // The pipes close a moment before the exit can be reaped: poll the
      // exit finely at first (it is usually there within microseconds),
      // then at a relaxed pace (a child that closed its output but runs on).
      ::usleep(++idle_polls < 50 ? 100 : 2000);
      continue;
    }
    if (exited && absl::Now() > drain_deadline) break;
    pipes.Poll(exited ? 20 : 50, on_line);
  }
  pipes.Finish(on_line);
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

absl::StatusOr<ProcessResult> PosixProcessLauncher::RunSupervised(const ProcessSpec& spec, const std::string& program,
                                                                  const std::function<void(const OutputLine&)>& on_line,
                                                                  CancelToken* cancel,
                                                                  const std::function<void(pid_t)>& on_start) {
  std::error_code ec;
  std::filesystem::path dir(spec.step_dir);
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("cannot create ", dir.parent_path().string(), ": ", ec.message()));
  }
  proto::RunRequest req;
  req.dir = spec.step_dir;
  req.timeout_ms = spec.timeout == absl::InfiniteDuration() ? 0 : std::max<int64_t>(1, absl::ToInt64Milliseconds(spec.timeout));
  req.grace_ms = absl::ToInt64Milliseconds(spec.kill_grace);
  req.cwd = spec.cwd;
  req.remove = spec.remove_on_exit;
  req.argv = spec.argv;
  req.argv[0] = program;
  req.env = spec.env;
  const std::string frame = proto::EncodeFrame(proto::EncodeRun(req));
  if (frame.size() > proto::kMaxFrame) {
    return absl::InvalidArgumentError(absl::StrCat("the step's arguments and environment are ", frame.size(),
                                                   " bytes; at most ", proto::kMaxFrame, " are accepted"));
  }
  // The step's files are made here, on this thread, not on the
  // supervisor's one (where every step would wait for every other).
  proto::StepFiles files;
  std::string why;
  if (!proto::OpenStepFiles(spec.step_dir, &files, &why)) return absl::FailedPreconditionError(why);
  int done[2];
  if (::pipe2(done, O_CLOEXEC) != 0) {
    files.Close();
    RemoveStepDir(spec.step_dir);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  absl::Time start = absl::Now();
  pid_t supervisor = -1;
  bool sent = false;
  {
    absl::MutexLock lock(&shared_->mu);
    const int fds[proto::kRunFds] = {files.lock, files.out, files.err, done[1]};
    absl::Status started;
    for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
      started = StartSupervisor();
      if (!started.ok()) break;
      sent = SendAll(shared_->sock, frame, fds, proto::kRunFds);
      if (!sent) {
        // It died: the next attempt starts another one.
        ::waitpid(shared_->pid, nullptr, 0);
        ::close(shared_->sock);
        shared_->sock = -1;
      }
    }
    supervisor = shared_->pid;
    // The supervisor has its own copies now (and with the lock's, the lock).
    files.Close();
    ::close(done[1]);
    if (!sent) {
      ::close(done[0]);
      RemoveStepDir(spec.step_dir);
      return started.ok() ? absl::UnavailableError("the step supervisor (plinth-step) does not take steps") : started;
    }
  }
  SetNonBlocking(done[0]);
  // Its answer first: "ok SUPERVISOR ENGINE" or "error WHY" (EOF: it died).
  std::string answer;
  char buf[512];
  for (absl::Time until = absl::Now() + absl::Seconds(30); answer.find('\n') == std::string::npos;) {
    struct pollfd p = {done[0], POLLIN, 0};
    if (absl::Now() > until || ::poll(&p, 1, 1000) < 0) break;
    ssize_t n = ::read(done[0], buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    if (n > 0) answer.append(buf, static_cast<size_t>(n));
  }
  std::vector<std::string> words = absl::StrSplit(answer.substr(0, answer.find('\n')), ' ');
  pid_t engine = words.size() == 3 && words[0] == "ok" ? static_cast<pid_t>(std::atol(words[2].c_str())) : 0;
  if (engine <= 1) {
    ::close(done[0]);
    RemoveStepDir(spec.step_dir);
    return absl::FailedPreconditionError(absl::StrCat(
        "plinth-step: ", absl::StartsWith(answer, "error ") ? absl::StripSuffix(answer.substr(6), "\n")
                                                             : absl::string_view("no answer to a step it was given")));
  }
  if (on_start) on_start(engine);

  // The supervisor counts the timeout and the grace period itself; it is
  // told of a cancel, and told to kill if it outlives its own deadlines.
  auto tell = [&](int sig) {
    union sigval v;
    v.sival_int = engine;
    ::sigqueue(supervisor, sig, v);
  };
  ProcessResult result;
  StepOutput output(spec.step_dir);
  bool sigint_sent = false, sigterm_sent = false;
  absl::Time sigint_at;
  int idle_ms = 1;
  for (bool ended = false; !ended;) {
    if (!sigint_sent && cancel != nullptr && cancel->cancelled()) {
      result.cancelled = true;
      tell(SIGINT);
      sigint_sent = true;
      sigint_at = absl::Now();
    }
    if (sigint_sent && !sigterm_sent && absl::Now() >= sigint_at + spec.kill_grace + absl::Seconds(5)) {
      tell(SIGTERM);
      sigterm_sent = true;
    }
    // The files are read again soon after they grew, then less and less
    // often while the engine is quiet (at most 50 ms later). Not inotify:
    // closing an inotify instance waits for an RCU grace period, ~15 ms a
    // step.
    struct pollfd p = {done[0], POLLIN, 0};
    ::poll(&p, 1, idle_ms);
    if (p.revents != 0) {
      ssize_t n = ::read(done[0], buf, sizeof(buf));
      ended = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
    }
    idle_ms = output.ReadNew(on_line) ? 1 : std::min(50, idle_ms * 2);
  }
  ::close(done[0]);
  output.Finish(on_line);
  // The supervisor closes the done pipe after it has recorded the end.
  ProcessResult recorded;
  if (ReadExitRecord(spec.step_dir, &recorded)) {
    result.exit_code = recorded.exit_code;
    result.signal = recorded.signal;
    result.timed_out = recorded.timed_out;
    result.cancelled = !result.timed_out && (result.cancelled || recorded.cancelled);
  } else {
    // The supervisor died: the engine it left does not go on unwatched.
    ::kill(-engine, SIGKILL);
    result.exit_code = -1;
    result.signal = SIGKILL;
  }
  for (const auto& f : spec.remove_on_exit) ::unlink(f.c_str());
  // The step dir stays, with the end recorded, until the caller removes the
  // workspace: a crash before the caller has stored this end leaves it for
  // the next plinthd to find (FindSteps: ended).
  result.elapsed = absl::Now() - start;
  return result;
}

}  // namespace plinth::engine
