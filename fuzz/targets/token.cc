// Access tokens, signed revocations and nkeys (libs/auth): everything a
// caller or the bus can hand a service that claims to be from the admin.
// The first byte picks what the rest is:
//   0  an access token as a client sends it (TokenVerifier::Verify)
//   1  the claims JSON of a token correctly signed by the admin key, so the
//      claims parser is reached (a signature only the admin can make)
//   2  a message on sa.auth.revoked (VerifyRevocation)
//   3  a revocation's JSON inside a correctly signed message
//   4  an nkey seed (nkeys::FromSeed) and public key (ValidatePublicKey)
//   5  a permission string (ValidatePermission, PermissionCovers)
//
// Promises checked: a token is refused only with UNAUTHENTICATED; a token
// whose signature is right but whose claims are not is refused, not
// accepted with defaults; an accepted revocation re-encodes to one that
// decodes equal; a rejected one says why with one of its three labels.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "auth/crypto.h"
#include "auth/nkeys.h"
#include "auth/permissions.h"
#include "auth/revocations.h"
#include "auth/token.h"
#include "fuzz_target.h"

namespace {

const sa::auth::KeyPair& AdminKey() {
  static const auto* k = new sa::auth::KeyPair(sa::auth::GenerateKeyPair());
  return *k;
}

void CheckToken(absl::string_view token, std::string_view input) {
  sa::auth::TokenVerifier verifier(AdminKey().public_key);
  auto c = verifier.Verify(token, 1714564800000000);
  if (!c.ok() && c.status().code() != absl::StatusCode::kUnauthenticated)
    sa::fuzz::Broken("token", "a token is refused other than UNAUTHENTICATED", input, c.status().ToString());
  if (c.ok() && c->sub.empty()) sa::fuzz::Broken("token", "a token without a subject is accepted", input);
}

void CheckRevocation(absl::string_view message, std::string_view input) {
  auto check = sa::auth::VerifyRevocation(message, AdminKey().public_key);
  if (check.revocation.has_value()) {
    if (!check.rejected.empty()) sa::fuzz::Broken("token", "a revocation both accepted and rejected", input);
    auto again = sa::auth::DecodeRevocation(sa::auth::EncodeRevocation(*check.revocation));
    if (!again.has_value() || again->kind != check.revocation->kind || again->id != check.revocation->id ||
        again->until_us != check.revocation->until_us ||
        again->issued_before_us != check.revocation->issued_before_us)
      sa::fuzz::Broken("token", "an accepted revocation does not round-trip", input);
  } else if (check.rejected != "unsigned" && check.rejected != "bad_signature" && check.rejected != "malformed") {
    sa::fuzz::Broken("token", "a rejected revocation has no known reason", input, check.rejected);
  }
}

}  // namespace

SA_FUZZ_TARGET(token) {
  using namespace sa;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) return;
  const absl::string_view rest(input.data() + 1, input.size() - 1);
  switch (static_cast<uint8_t>(input[0]) % 6) {
    case 0:
      CheckToken(rest, input);
      break;
    case 1: {
      std::string signed_part = absl::StrCat("sa1.", auth::Base64Url(rest));
      CheckToken(absl::StrCat(signed_part, ".", auth::Base64Url(auth::Sign(signed_part, AdminKey().secret_key))),
                 input);
      break;
    }
    case 2:
      CheckRevocation(rest, input);
      break;
    case 3: {
      std::string signed_part = absl::StrCat("sarv1.", auth::Base64Url(rest));
      CheckRevocation(
          absl::StrCat(signed_part, ".", auth::Base64Url(auth::Sign(signed_part, AdminKey().secret_key))), input);
      break;
    }
    case 4: {
      auto key = auth::nkeys::FromSeed(rest);
      if (key.ok() && !auth::nkeys::ValidatePublicKey(key->public_key, key->type).ok())
        fuzz::Broken("token", "a seed's own public key does not validate", input);
      for (auto t : {auth::nkeys::Type::kOperator, auth::nkeys::Type::kAccount, auth::nkeys::Type::kUser}) {
        (void)auth::nkeys::ValidatePublicKey(rest, t);
      }
      break;
    }
    default: {
      bool valid = auth::ValidatePermission(rest).ok();
      if (valid && !auth::PermissionCovers(rest, rest))
        fuzz::Broken("token", "a valid permission does not cover itself", input);
      (void)auth::Allows({std::string(rest), "md:read"}, "md:read");
      break;
    }
  }
}
