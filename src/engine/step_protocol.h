// The wire between PosixProcessLauncher (process.cc) and `plinth-step
// --serve` (step_supervisor_main.cc), over a Unix stream socket on the
// supervisor's fd 3. Header-only and libc-only: plinth-step links nothing.
//
// A frame is a little-endian u32 length, then fields separated by NUL bytes:
//
//   "run" DIR TIMEOUT_MS GRACE_MS CWD N_REMOVE REMOVE... N_ARGV ARGV... N_ENV ENV...
//
// sent with four fds (SCM_RIGHTS, with the frame's first byte), all opened
// by the launcher (OpenStepFiles), so that the supervisor's one thread
// creates no files and copies no output:
//   STEP_DIR/lock  flock held (by the launcher, then by the supervisor's
//                  copy): the step runs while it is held
//   STEP_DIR/out   the engine's stdout and stderr, written by the engine
//   STEP_DIR/err   itself; the launcher reads them as they grow
//   done           the write end of a pipe of the launcher's: the
//                  supervisor writes "ok SUPERVISOR_PID ENGINE_PID\n" (or
//                  "error MESSAGE\n") to it at once, and closes it when the
//                  step's end is recorded.
//
// STEP_DIR/lock holds "SUPERVISOR_PID ENGINE_PID\n" while the step runs,
// then a second line "exit=<code> signal=<n> timed_out=<0|1> cancelled=<0|1>".
// A signal for one step is sigqueue()d to the supervisor with the engine's
// pid as value: SIGINT interrupts the step (SIGKILL after its grace), SIGTERM
// kills it at once; a signal without a value applies to every step.
#ifndef PLINTH_ENGINE_STEP_PROTOCOL_H_
#define PLINTH_ENGINE_STEP_PROTOCOL_H_

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace plinth::engine::step_protocol {

inline constexpr int kServeFd = 3;
// A frame larger than this is refused (argv and env of one step).
inline constexpr uint32_t kMaxFrame = 16u << 20;

struct RunRequest {
  std::string dir;
  int64_t timeout_ms = 0;  // 0: none
  int64_t grace_ms = 30000;
  std::string cwd;
  std::vector<std::string> remove, argv, env;
};

inline std::string EncodeFrame(const std::vector<std::string>& fields) {
  std::string payload;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) payload.push_back('\0');
    payload += fields[i];
  }
  const uint32_t n = static_cast<uint32_t>(payload.size());
  std::string frame(4, '\0');
  for (int b = 0; b < 4; ++b) frame[b] = static_cast<char>((n >> (8 * b)) & 0xff);
  return frame + payload;
}

// The length of the frame at the start of `buffer`, or -1 when its header
// is not all there yet.
inline int64_t FrameLength(const std::string& buffer) {
  if (buffer.size() < 4) return -1;
  uint32_t n = 0;
  for (int b = 0; b < 4; ++b) n |= static_cast<uint32_t>(static_cast<unsigned char>(buffer[b])) << (8 * b);
  return n;
}

inline std::vector<std::string> SplitFields(const std::string& payload) {
  std::vector<std::string> fields(1);
  for (char c : payload) {
    if (c == '\0') fields.emplace_back();
    else fields.back().push_back(c);
  }
  return fields;
}

inline std::vector<std::string> EncodeRun(const RunRequest& r) {
  std::vector<std::string> f = {"run", r.dir, std::to_string(r.timeout_ms), std::to_string(r.grace_ms), r.cwd};
  for (const auto* list : {&r.remove, &r.argv, &r.env}) {
    f.push_back(std::to_string(list->size()));
    f.insert(f.end(), list->begin(), list->end());
  }
  return f;
}

// False when the fields are not a well-formed "run".
inline bool DecodeRun(const std::vector<std::string>& f, RunRequest* r) {
  if (f.size() < 5 || f[0] != "run") return false;
  r->dir = f[1];
  r->timeout_ms = std::atoll(f[2].c_str());
  r->grace_ms = std::atoll(f[3].c_str());
  r->cwd = f[4];
  size_t i = 5;
  for (auto* list : {&r->remove, &r->argv, &r->env}) {
    if (i >= f.size()) return false;
    char* end = nullptr;
    unsigned long long n = std::strtoull(f[i].c_str(), &end, 10);
    if (end == f[i].c_str() || *end != '\0' || n > f.size() - i - 1) return false;
    ++i;
    list->assign(f.begin() + static_cast<std::ptrdiff_t>(i), f.begin() + static_cast<std::ptrdiff_t>(i + n));
    i += n;
  }
  return i == f.size() && !r->dir.empty() && !r->argv.empty();
}

inline constexpr int kRunFds = 4;  // lock, out, err, done

// A step's files, opened for a new step: the lock taken, out and err empty.
struct StepFiles {
  int lock = -1, out = -1, err = -1;
  void Close() {
    for (int* fd : {&lock, &out, &err}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }
};

// Creates STEP_DIR (its parent must exist) and opens its files; false (and
// why) when it cannot, with nothing left open.
inline bool OpenStepFiles(const std::string& dir, StepFiles* files, std::string* error) {
  ::mkdir(dir.c_str(), 0700);
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC;
  files->lock = ::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (files->lock < 0 || ::flock(files->lock, LOCK_EX | LOCK_NB) != 0) {
    *error = "cannot lock " + dir + "/lock: " + std::strerror(errno);
    files->Close();
    return false;
  }
  files->out = ::open((dir + "/out").c_str(), flags, 0600);
  files->err = files->out < 0 ? -1 : ::open((dir + "/err").c_str(), flags, 0600);
  if (files->err < 0) {
    *error = "cannot write the output files in " + dir + ": " + std::strerror(errno);
    files->Close();
    return false;
  }
  return true;
}

}  // namespace plinth::engine::step_protocol

#endif  // PLINTH_ENGINE_STEP_PROTOCOL_H_
