// Reading charts from a directory or a .tar.gz archive.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "plinth/chart/chart.h"
#include "plinth/core/status_macros.h"

namespace plinth::chart {
namespace {

namespace fs = std::filesystem;

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

absl::StatusOr<std::string> Gunzip(absl::string_view in, size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return absl::InternalError("zlib: inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[64 * 1024];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Bad(absl::StrCat("chart archive: not a valid .tar.gz (", zs.msg ? zs.msg : "corrupt data", ")"));
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return Bad(absl::StrCat("chart archive: unpacks to more than ", max_bytes, " bytes"));
    }
  } while (rc != Z_STREAM_END && (zs.avail_in > 0 || zs.avail_out == 0));
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return Bad("chart archive: truncated .tar.gz");
  return out;
}

std::string Field(const char* p, size_t n) {
  size_t len = 0;
  while (len < n && p[len] != '\0') ++len;
  return std::string(p, len);
}

absl::StatusOr<uint64_t> Octal(const char* p, size_t n) {
  std::string s = Field(p, n);
  uint64_t v = 0;
  bool any = false;
  for (char c : s) {
    if (c == ' ') continue;
    if (c < '0' || c > '7') return Bad("chart archive: corrupt tar header");
    v = v * 8 + (c - '0');
    any = true;
  }
  if (!any) return uint64_t{0};
  return v;
}

}  // namespace

absl::StatusOr<std::vector<ChartFile>> ExtractChartArchive(absl::string_view tar_gz, const ChartLimits& limits) {
  // Headers and padding cost at most 1 KiB a file on top of the contents.
  PLINTH_ASSIGN_OR_RETURN(std::string tar, Gunzip(tar_gz, limits.max_total_bytes + limits.max_files * 1024 + 10240));
  std::vector<ChartFile> files;
  std::string long_name;
  size_t pos = 0;
  while (pos + 512 <= tar.size()) {
    const char* h = tar.data() + pos;
    if (std::all_of(h, h + 512, [](char c) { return c == 0; })) break;  // end of archive
    PLINTH_ASSIGN_OR_RETURN(uint64_t size, Octal(h + 124, 12));
    char type = h[156];
    std::string name = Field(h, 100);
    if (std::string(h + 257, 5) == "ustar") {
      std::string prefix = Field(h + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (!long_name.empty()) {
      name = long_name;
      long_name.clear();
    }
    size_t data = pos + 512;
    if (data + size > tar.size()) return Bad("chart archive: truncated tar entry");
    std::string content = tar.substr(data, size);
    pos = data + ((size + 511) / 512) * 512;
    if (type == 'L') {  // GNU long name for the next entry
      long_name = Field(content.data(), content.size());
      continue;
    }
    if (type == 'x' || type == 'g') continue;  // pax headers: plinth reads names from ustar
    if (absl::StartsWith(name, "./")) name = name.substr(2);
    if (type == '5' || (name.size() > 0 && name.back() == '/')) continue;  // directories
    if (type == '1' || type == '2') {
      return Bad(absl::StrCat("chart archive: \"", name, "\" is a link; links are not allowed"));
    }
    if (type != '0' && type != '\0' && type != '7') {
      return Bad(absl::StrCat("chart archive: \"", name, "\" is not a regular file"));
    }
    if (files.size() >= limits.max_files) {
      return Bad(absl::StrCat("chart archive: more than ", limits.max_files, " files"));
    }
    files.push_back(ChartFile{name, std::move(content)});
  }
  // A single top-level directory (as `tar czf chart.tgz mychart/` makes) is stripped.
  bool has_root_chart = std::any_of(files.begin(), files.end(), [](const auto& f) { return f.path == "Chart.yaml"; });
  if (!has_root_chart && !files.empty()) {
    std::string first = files[0].path.substr(0, files[0].path.find('/'));
    bool common = std::all_of(files.begin(), files.end(), [&](const auto& f) {
      return absl::StartsWith(f.path, first + "/");
    });
    if (common) {
      for (auto& f : files) f.path = f.path.substr(first.size() + 1);
    }
  }
  return files;
}

absl::StatusOr<std::vector<ChartFile>> ReadChartDir(const std::string& dir, const ChartLimits& limits) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrCat(dir, ": not a chart directory"));
  std::vector<ChartFile> files;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", ec.message()));
    const fs::path& p = it->path();
    std::string rel = fs::relative(p, dir).generic_string();
    if (p.filename().string()[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;  // .git, .helmignore and other hidden files
    }
    if (it->is_symlink()) return Bad(absl::StrCat(rel, ": symbolic links are not allowed in charts"));
    if (it->is_directory()) continue;
    if (!it->is_regular_file()) return Bad(absl::StrCat(rel, ": not a regular file"));
    if (files.size() >= limits.max_files) return Bad(absl::StrCat(dir, ": more than ", limits.max_files, " files"));
    if (it->file_size() > limits.max_file_bytes) {
      return Bad(absl::StrCat(rel, " is ", it->file_size(), " bytes, over the limit of ", limits.max_file_bytes));
    }
    std::ifstream in(p, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    files.push_back(ChartFile{rel, buf.str()});
  }
  return files;
}

}  // namespace plinth::chart
