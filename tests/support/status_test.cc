#include "support/status.h"

#include <gtest/gtest.h>

namespace autosp {
namespace {

StatusOr<int> ParsePositive(int x) {
  if (x <= 0) return InvalidArgument("expected a positive number, got {}", x);
  return x;
}

Status Doubled(int x, int* out) {
  AUTOSP_ASSIGN_OR_RETURN(int v, ParsePositive(x));
  *out = 2 * v;
  return Status::Ok();
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = InvalidArgument("key '{}' is {}", "lr", -1);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "invalid-argument: key 'lr' is -1");
  EXPECT_EQ(s.WithContext("config.json").message(), "config.json: key 'lr' is -1");
}

TEST(StatusTest, AssignOrReturnPropagates) {
  int out = 0;
  EXPECT_TRUE(Doubled(3, &out).ok());
  EXPECT_EQ(out, 6);
  Status s = Doubled(-2, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "expected a positive number, got -2");
}

TEST(StatusDeathTest, CheckAbortsWithMessage) {
  EXPECT_DEATH(AUTOSP_CHECK(1 == 2, "math is {}", "broken"), "CHECK\\(1 == 2\\) failed: math is broken");
}

}  // namespace
}  // namespace autosp
