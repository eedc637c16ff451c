#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "plinth/engine/stack_job.h"

namespace plinth::engine {

absl::Status WriteOwnerOnlyFile(const std::string& path, const std::string& content) {
  // Created owner-only from the start: never a moment readable by others.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  ::fchmod(fd, 0600);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  int saved = errno;
  ::close(fd);
  if (done != content.size()) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(saved)));
  return absl::OkStatus();
}

StepSecretFiles::StepSecretFiles(const std::string& dir,
                                 const std::vector<std::pair<std::string, std::string>>& files) {
  for (const auto& [name, content] : files) {
    std::string path = (std::filesystem::path(dir) / name).string();
    written_.push_back(path);
    status_ = WriteOwnerOnlyFile(path, content);
    if (!status_.ok()) return;
  }
}

StepSecretFiles::~StepSecretFiles() {
  for (const auto& path : written_) ::unlink(path.c_str());
}

}  // namespace plinth::engine
