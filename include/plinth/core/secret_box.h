// Authenticated encryption of secrets at rest (libsodium secretbox:
// XSalsa20-Poly1305) under a 32-byte key kept in a file of the data dir.
//
//   auto box = SecretBox::FromKeyFile(data_dir + "/secret.key");  // created 0600 on first use
//   std::string sealed = box->Seal("s3cr3t");
//   absl::StatusOr<std::string> plain = box->Open(sealed);
//
// Thread-safe after construction.
#ifndef PLINTH_CORE_SECRET_BOX_H_
#define PLINTH_CORE_SECRET_BOX_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plinth::core {

// A 32-byte BLAKE2b digest of `data` as 64 hex digits (content identity,
// not a secret).
std::string ContentDigest(absl::string_view data);

// SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

// HMAC-SHA256 of `data` under `key` (any length), as 64 lowercase hex
// digits: what GitHub sends in X-Hub-Signature-256 after "sha256=".
std::string HmacSha256Hex(absl::string_view key, absl::string_view data);

// Compares two secrets in time that does not depend on where they differ
// (nor on their contents; only on their lengths).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// `bytes` random bytes from the system's generator, as hex.
std::string RandomHex(size_t bytes);

class SecretBox {
 public:
  enum class IfMissing { kCreate, kFail };
  // Reads the key; when the file does not exist, creates it (mode 0600) or,
  // with kFail, returns NOT_FOUND. FAILED_PRECONDITION when the file is not
  // a key or is readable by others.
  static absl::StatusOr<std::unique_ptr<SecretBox>> FromKeyFile(const std::string& path,
                                                                IfMissing if_missing = IfMissing::kCreate);
  ~SecretBox();

  // base64(nonce || ciphertext); a fresh random nonce every time.
  std::string Seal(absl::string_view plaintext) const;
  // DATA_LOSS when the text was not sealed with this key or was altered.
  absl::StatusOr<std::string> Open(absl::string_view sealed) const;
  // A secret derived from the key for one purpose (64 hex digits): stable
  // for this key, unrelated across purposes and installations.
  std::string Derive(absl::string_view purpose) const;
  // Names the key without revealing it (16 hex digits), so that a store can
  // tell whether it is given the key it was sealed with.
  std::string KeyId() const { return Derive("plinth secret key id v1").substr(0, 16); }

 private:
  SecretBox() = default;
  unsigned char key_[32];
};

}  // namespace plinth::core

#endif  // PLINTH_CORE_SECRET_BOX_H_
