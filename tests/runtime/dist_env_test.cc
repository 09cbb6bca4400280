#include "runtime/dist_env.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace autosp::runtime {
namespace {

GetEnvFn FakeEnv(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(DistEnvTest, NoLauncherMeansSingleRank) {
  auto env = ReadDistEnv(FakeEnv({}));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->world_size, 1);
  EXPECT_EQ(env->rank, 0);
  EXPECT_EQ(env->launcher, "none");
}

TEST(DistEnvTest, Torchrun) {
  auto env = ReadDistEnv(FakeEnv({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                  {"MASTER_ADDR", "10.0.0.2"}, {"MASTER_PORT", "29400"}}));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "10.0.0.2");
  EXPECT_EQ(env->master_port, 29400);
  EXPECT_EQ(env->launcher, "torchrun");
}

TEST(DistEnvTest, OpenMpi) {
  auto env = ReadDistEnv(FakeEnv({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "8"},
                                  {"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"MASTER_ADDR", "h1"}}));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->rank, 2);
  EXPECT_EQ(env->world_size, 8);
  EXPECT_EQ(env->local_rank, 2);
  EXPECT_EQ(env->master_addr, "h1");
  EXPECT_EQ(env->launcher, "mpirun");
}

TEST(DistEnvTest, SlurmTakesMasterFromNodeList) {
  auto env = ReadDistEnv(FakeEnv({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "16"},
                                  {"SLURM_LOCALID", "1"},
                                  {"SLURM_JOB_NODELIST", "gpu[07-08,12],login1"}}));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->rank, 5);
  EXPECT_EQ(env->world_size, 16);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "gpu07");
  EXPECT_EQ(env->launcher, "slurm");
  EXPECT_EQ(FirstSlurmHost("n1,n2"), "n1");
  EXPECT_EQ(FirstSlurmHost("a[3,5]"), "a3");
}

TEST(DistEnvTest, BadValuesNameTheVariable) {
  auto env = ReadDistEnv(FakeEnv({{"RANK", "x"}, {"WORLD_SIZE", "2"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().message(), "environment variable RANK='x' is not an integer >= 0");
  env = ReadDistEnv(FakeEnv({{"RANK", "2"}, {"WORLD_SIZE", "2"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().message(), "RANK=2 is not below WORLD_SIZE=2");
  env = ReadDistEnv(FakeEnv({{"RANK", "0"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("WORLD_SIZE"), std::string::npos);
  env = ReadDistEnv(FakeEnv({{"MASTER_PORT", "70000"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("MASTER_PORT"), std::string::npos);
}

}  // namespace
}  // namespace autosp::runtime
