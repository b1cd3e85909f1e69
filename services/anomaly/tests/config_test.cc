#include <gtest/gtest.h>

#include "anomaly_service/app.h"
#include "anomaly/feature_extractor.h"

namespace sa::anomaly_service {
namespace {

TEST(AnomalyConfig, DefaultsAreValidAndDescribeTheService) {
  auto c = DefaultConfig();
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  EXPECT_EQ(c.consumer().stream(), "MD");
  EXPECT_EQ(c.consumer().durable(), "anomaly");
  EXPECT_EQ(c.model().num_trees(), 100u);
  EXPECT_EQ(c.model().sample_size(), 256u);
  EXPECT_TRUE(c.model().isolate_out_of_range());
  EXPECT_EQ(c.features().burst_window_s(), 0.1);
  EXPECT_EQ(c.features().burst_window_s(), anomaly::FeatureOptions().burst_window_s);  // the library's default
}

TEST(AnomalyConfig, ErrorsNameTheKey) {
  auto check = [](auto mutate, const std::string& key) {
    auto c = DefaultConfig();
    mutate(c);
    absl::Status st = ValidateConfig(c);
    EXPECT_FALSE(st.ok()) << key;
    EXPECT_NE(std::string(st.message()).find(key), std::string::npos) << st;
  };
  check([](auto& c) { c.mutable_features()->add_features("colour"); }, "features.features[0]");
  check([](auto& c) { c.mutable_features()->add_features("spread"); c.mutable_features()->add_features("spread"); },
        "features.features[1]");
  check([](auto& c) { c.mutable_features()->set_rate_window_s(120); }, "features.rate_window_s");
  check([](auto& c) { c.mutable_features()->set_burst_window_s(0); }, "features.burst_window_s");
  check([](auto& c) { c.mutable_features()->set_burst_window_s(60); }, "features.burst_window_s");
  check([](auto& c) { c.mutable_model()->set_num_trees(0); }, "model.num_trees");
  check([](auto& c) { c.mutable_model()->set_sample_size(1); }, "model.sample_size");
  check([](auto& c) { c.mutable_model()->set_training_window(10); }, "model.training_window");
  check([](auto& c) { c.mutable_model()->set_contamination(0.7); }, "model.contamination");
  check([](auto& c) { c.mutable_model()->set_threshold_score(1.5); }, "model.threshold_score");
}

}  // namespace
}  // namespace sa::anomaly_service
