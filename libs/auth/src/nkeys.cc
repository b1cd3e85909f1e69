#include "auth/nkeys.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "auth/crypto.h"

namespace sa::auth::nkeys {
namespace {

constexpr uint8_t kPrefixSeed = 18 << 3;  // 'S'
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

absl::StatusOr<std::string> FromBase32(absl::string_view text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = std::strchr(kAlphabet, c);
    if (c == '\0' || p == nullptr) return absl::InvalidArgumentError("nkey: not base32");
    buffer = (buffer << 5) | static_cast<uint32_t>(p - kAlphabet);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::string WithCrc(std::string raw) {
  uint16_t crc = Crc16(raw);
  raw.push_back(static_cast<char>(crc & 0xff));
  raw.push_back(static_cast<char>(crc >> 8));
  return Base32(raw);
}

absl::StatusOr<std::string> CheckCrc(absl::string_view text) {
  auto raw = FromBase32(text);
  if (!raw.ok()) return raw.status();
  if (raw->size() < 4) return absl::InvalidArgumentError("nkey: too short");
  std::string body = raw->substr(0, raw->size() - 2);
  uint16_t want = static_cast<uint8_t>((*raw)[raw->size() - 2]) | (static_cast<uint8_t>((*raw)[raw->size() - 1]) << 8);
  if (Crc16(body) != want) return absl::InvalidArgumentError("nkey: CRC mismatch");
  return body;
}

std::string PublicText(Type type, absl::string_view pub) {
  std::string raw(1, static_cast<char>(type));
  raw.append(pub.data(), pub.size());
  return WithCrc(raw);
}

std::string SignJwt(const NKey& issuer, nlohmann::json claims) {
  // jti: hash of the claims without it (nats-io/jwt uses SHA-512/256; any unique id is accepted).
  claims["jti"] = Base32(Sha256(claims.dump()));
  std::string header = Base64Url(R"({"typ":"JWT","alg":"ed25519-nkey"})");
  std::string body = absl::StrCat(header, ".", Base64Url(claims.dump()));
  return absl::StrCat(body, ".", Base64Url(Sign(body, issuer.secret_key)));
}

nlohmann::json PermJson(const std::vector<std::string>& allow, const std::vector<std::string>& deny) {
  nlohmann::json j = nlohmann::json::object();
  if (!allow.empty()) j["allow"] = allow;
  if (!deny.empty()) j["deny"] = deny;
  return j;
}

}  // namespace

uint16_t Crc16(absl::string_view data) {
  uint16_t crc = 0;
  for (unsigned char b : data) {
    crc ^= static_cast<uint16_t>(b) << 8;
    for (int i = 0; i < 8; ++i)
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

std::string Base32(absl::string_view data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

NKey Generate(Type type) { return FromRawSeed(type, RandomBytes(32)); }

NKey FromRawSeed(Type type, absl::string_view seed) {
  if (seed.size() != 32) std::abort();  // a programming error: the contract says 32 bytes
  std::string raw;
  raw.push_back(static_cast<char>(kPrefixSeed | (static_cast<uint8_t>(type) >> 5)));
  raw.push_back(static_cast<char>((static_cast<uint8_t>(type) & 31) << 3));
  raw.append(seed.data(), seed.size());
  auto k = FromSeed(WithCrc(raw));
  if (!k.ok()) std::abort();  // we just encoded it
  return *k;
}

absl::StatusOr<NKey> FromSeed(absl::string_view seed_text) {
  auto raw = CheckCrc(seed_text);
  if (!raw.ok()) return raw.status();
  if (raw->size() != 34) return absl::InvalidArgumentError("nkey seed: wrong length");
  uint8_t b0 = static_cast<uint8_t>((*raw)[0]), b1 = static_cast<uint8_t>((*raw)[1]);
  if ((b0 & 0xf8) != kPrefixSeed) return absl::InvalidArgumentError("nkey seed: not a seed");
  uint8_t t = static_cast<uint8_t>(((b0 & 7) << 5) | ((b1 & 0xf8) >> 3));
  if (t != static_cast<uint8_t>(Type::kOperator) && t != static_cast<uint8_t>(Type::kAccount) &&
      t != static_cast<uint8_t>(Type::kUser))
    return absl::InvalidArgumentError("nkey seed: not an operator, account or user seed");
  auto kp = KeyPairFromSeed(absl::string_view(*raw).substr(2));
  if (!kp.ok()) return kp.status();
  NKey k{static_cast<Type>(t), std::string(seed_text), PublicText(static_cast<Type>(t), kp->public_key),
         kp->secret_key};
  return k;
}

absl::Status ValidatePublicKey(absl::string_view public_key, Type type) {
  auto raw = CheckCrc(public_key);
  if (!raw.ok()) return raw.status();
  if (raw->size() != 33 || static_cast<uint8_t>((*raw)[0]) != static_cast<uint8_t>(type))
    return absl::InvalidArgumentError("nkey: wrong type or length");
  return absl::OkStatus();
}

std::string OperatorJwt(const NKey& op, const std::string& name, int64_t now_s) {
  nlohmann::json c = {{"iat", now_s},
                      {"iss", op.public_key},
                      {"sub", op.public_key},
                      {"name", name},
                      {"nats", {{"type", "operator"}, {"version", 2}}}};
  return SignJwt(op, c);
}

std::string AccountJwt(const NKey& op, const std::string& account_public_key, const std::string& name, int64_t now_s,
                       bool jetstream) {
  nlohmann::json limits = {{"subs", -1},    {"data", -1},        {"payload", -1}, {"imports", -1},
                           {"exports", -1}, {"wildcards", true}, {"conn", -1},    {"leaf", -1}};
  if (jetstream) {
    limits["mem_storage"] = -1;
    limits["disk_storage"] = -1;
    limits["streams"] = -1;
    limits["consumer"] = -1;
  }
  nlohmann::json c = {{"iat", now_s},
                      {"iss", op.public_key},
                      {"sub", account_public_key},
                      {"name", name},
                      {"nats", {{"type", "account"}, {"version", 2}, {"limits", limits}}}};
  return SignJwt(op, c);
}

std::string UserJwt(const NKey& account, const std::string& user_public_key, const std::string& name,
                    const Permissions& p, int64_t now_s, int64_t expires_s) {
  nlohmann::json nats = {{"type", "user"},
                         {"version", 2},
                         {"subs", -1},
                         {"data", -1},
                         {"payload", -1},
                         {"pub", PermJson(p.pub_allow, p.pub_deny)},
                         {"sub", PermJson(p.sub_allow, p.sub_deny)}};
  nlohmann::json c = {
      {"iat", now_s}, {"iss", account.public_key}, {"sub", user_public_key}, {"name", name}, {"nats", nats}};
  if (expires_s > 0) c["exp"] = expires_s;
  return SignJwt(account, c);
}

std::string CredsFile(const std::string& user_jwt, const std::string& user_seed) {
  return absl::StrCat("-----BEGIN NATS USER JWT-----\n", user_jwt, "\n------END NATS USER JWT------\n\n",
                      "************************* IMPORTANT *************************\n",
                      "NKEY Seed printed below can be used to sign and prove identity.\n",
                      "NKEYs are sensitive and should be treated as secrets.\n\n", "-----BEGIN USER NKEY SEED-----\n",
                      user_seed, "\n------END USER NKEY SEED------\n\n",
                      "*************************************************************\n");
}

}  // namespace sa::auth::nkeys
