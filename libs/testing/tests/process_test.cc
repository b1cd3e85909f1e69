#include "testing/process.h"

#include <signal.h>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"
#include "testing/wait.h"

namespace sa::testing {
namespace {

using ::testing::HasSubstr;

TEST(RunProcess, CapturesStdoutAndStderrAndExitCode) {
  auto r = RunProcess({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_THAT(r->output, HasSubstr("out"));
  EXPECT_THAT(r->output, HasSubstr("err"));
}

TEST(RunProcess, ReportsAMissingExecutable) {
  auto r = RunProcess({"/nonexistent/definitely-not-here"});
  EXPECT_FALSE(r.ok());
}

TEST(Process, WaitsForALineWithoutSleeping) {
  auto p = Process::Spawn({"sh", "-c", "echo starting; echo ready; exec sleep 60"});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->WaitForOutput("ready", absl::Seconds(10)).ok());
  auto code = (*p)->Terminate(absl::Seconds(5));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGTERM);
}

TEST(Process, WaitForOutputFailsWhenTheChildExitsFirst) {
  auto p = Process::Spawn({"sh", "-c", "echo bye"});
  ASSERT_TRUE(p.ok()) << p.status();
  auto s = (*p)->WaitForOutput("never printed", absl::Seconds(10));
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
}

TEST(Process, NeverBlocksOnAFullPipe) {
  // 8 MiB of output, far more than a pipe buffer holds.
  auto p = Process::Spawn({"sh", "-c", "head -c 8388608 /dev/zero | tr '\\0' x; echo; echo done"});
  ASSERT_TRUE(p.ok()) << p.status();
  auto code = (*p)->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  ASSERT_TRUE((*p)->WaitForOutput("done", absl::Seconds(10)).ok());
}

TEST(Process, DestructorKillsAndReapsTheChild) {
  pid_t pid;
  {
    auto p = Process::Spawn({"sleep", "600"});
    ASSERT_TRUE(p.ok()) << p.status();
    pid = (*p)->pid();
  }
  EXPECT_NE(kill(pid, 0), 0) << "child still exists (running or zombie)";
  EXPECT_THAT(ZombieChildren(), ::testing::IsEmpty());
}

TEST(WaitFor, ReturnsTrueOnceTheConditionHolds) {
  const absl::Time start = absl::Now();
  EXPECT_TRUE(WaitFor([&] { return absl::Now() - start > absl::Milliseconds(20); }, absl::Seconds(5)));
  EXPECT_FALSE(WaitFor([] { return false; }, absl::Milliseconds(30)));
}

}  // namespace
}  // namespace sa::testing
