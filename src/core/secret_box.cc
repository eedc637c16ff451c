#include "plinth/core/secret_box.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace plinth::core {

namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    hex.push_back(kHex[data[i] >> 4]);
    hex.push_back(kHex[data[i] & 15]);
  }
  return hex;
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  static const bool ready = sodium_init() >= 0;
  (void)ready;
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return Hex(out, sizeof out);
}

std::string HmacSha256Hex(absl::string_view key, absl::string_view data) {
  static const bool ready = sodium_init() >= 0;
  (void)ready;
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  unsigned char out[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, out);
  return Hex(out, sizeof out);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomHex(size_t bytes) {
  static const bool ready = sodium_init() >= 0;
  (void)ready;
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return Hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string ContentDigest(absl::string_view data) {
  static const bool ready = sodium_init() >= 0;
  (void)ready;
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : out) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  return hex;
}

absl::StatusOr<std::unique_ptr<SecretBox>> SecretBox::FromKeyFile(const std::string& path, IfMissing if_missing) {
  if (sodium_init() < 0) return absl::InternalError("libsodium: initialisation failed");
  std::unique_ptr<SecretBox> box(new SecretBox());
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (if_missing == IfMissing::kFail) return absl::NotFoundError(absl::StrCat("key file ", path, " does not exist"));
    crypto_secretbox_keygen(box->key_);
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) return absl::FailedPreconditionError(absl::StrCat("cannot create key file ", path, ": ", std::strerror(errno)));
    bool ok = ::write(out, box->key_, sizeof(box->key_)) == static_cast<ssize_t>(sizeof(box->key_)) && ::fsync(out) == 0;
    ::close(out);
    if (!ok) return absl::FailedPreconditionError(absl::StrCat("cannot write key file ", path));
    return box;
  }
  if (fd < 0) return absl::FailedPreconditionError(absl::StrCat("cannot read key file ", path, ": ", std::strerror(errno)));
  struct stat st;
  ::fstat(fd, &st);
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is readable by others: chmod 600 it"));
  }
  ssize_t n = ::read(fd, box->key_, sizeof(box->key_));
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof(box->key_)) || st.st_size != static_cast<off_t>(sizeof(box->key_))) {
    return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is not a 32-byte key"));
  }
  return box;
}

SecretBox::~SecretBox() { sodium_memzero(key_, sizeof(key_)); }

std::string SecretBox::Derive(absl::string_view purpose) const {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(), key_,
                     sizeof key_);
  char hex[sizeof out * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  sodium_memzero(out, sizeof out);
  return hex;
}

std::string SecretBox::Seal(absl::string_view plaintext) const {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(), nonce, key_);
  return absl::Base64Escape(out);
}

absl::StatusOr<std::string> SecretBox::Open(absl::string_view sealed) const {
  std::string raw;
  if (!absl::Base64Unescape(sealed, &raw) || raw.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return absl::DataLossError("sealed secret: malformed");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw.data());
  std::string plain(raw.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), nonce + crypto_secretbox_NONCEBYTES,
                                 raw.size() - crypto_secretbox_NONCEBYTES, nonce, key_) != 0) {
    return absl::DataLossError("sealed secret: not sealed with this key, or altered");
  }
  return plain;
}

}  // namespace plinth::core
