#include "common/crash_point.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sa {
namespace {

// Runs `body` in a child with SA_CRASH_POINTS=`env`; its wait status.
template <typename F>
int InChild(const char* env, F body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (env) setenv("SA_CRASH_POINTS", env, 1);
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(CrashPoint, DiesWithSigkillOnTheArmedPassOnly) {
  int status = InChild("a.b=3", [] {
    SA_CRASH_POINT("a.b");
    SA_CRASH_POINT("a.b");
    SA_CRASH_POINT("other");
    if (CrashPointsArmed() != std::vector<std::string>{"a.b=3"}) _exit(7);
    SA_CRASH_POINT("a.b");  // third pass
    _exit(5);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(CrashPoint, UnarmedPointsDoNothing) {
  int status = InChild(nullptr, [] {
    for (int i = 0; i < 1000; ++i) SA_CRASH_POINT("a.b");
    if (!CrashPointsArmed().empty()) _exit(7);
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(CrashPoint, AMalformedSpecAbortsInsteadOfRunningUnarmed) {
  int status = InChild("a.b=zero", [] { SA_CRASH_POINT("a.b"); });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
}

}  // namespace
}  // namespace sa
