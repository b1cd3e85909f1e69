#include "testing/certificates.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "testing/process.h"

namespace sa::testing {
namespace {

absl::Status Run(const std::vector<std::string>& argv) {
  auto r = RunProcess(argv);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": exit ", r->exit_code, "\n", r->output));
  }
  return absl::OkStatus();
}

// `openssl req <head...> <a new EC P-256 key> <tail...>`.
std::vector<std::string> Req(std::vector<std::string> head, const std::vector<std::string>& tail) {
  head.insert(head.end(), {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"});
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

}  // namespace

absl::Status MakeTestCertificates(const std::string& dir) {
  std::ofstream(dir + "/san.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  if (auto st = Run(Req({"openssl", "req", "-x509"}, {"-keyout", dir + "/ca.key", "-out", dir + "/ca.crt", "-subj",
                                                      "/CN=sa-test-ca", "-days", "1"}));
      !st.ok()) {
    return st;
  }
  for (const char* who : {"server", "client"}) {
    const std::string w = absl::StrCat(dir, "/", who);
    if (auto st = Run(
            Req({"openssl", "req"}, {"-keyout", w + ".key", "-out", w + ".csr", "-subj", absl::StrCat("/CN=", who)}));
        !st.ok()) {
      return st;
    }
    if (auto st = Run({"openssl", "x509", "-req", "-in", w + ".csr", "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key",
                       "-CAcreateserial", "-out", w + ".crt", "-days", "1", "-extfile", dir + "/san.ext"});
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace sa::testing
