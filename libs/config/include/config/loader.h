// Loads service configuration into a protobuf message: defaults (set by the
// caller on the message), then a YAML file, then STREAM_ADMIN_* environment
// variables. Every problem is reported as one line naming the file, the key
// path and the reason, e.g.
//   config /etc/sa/ingest.yaml:7:3: key 'nats.servrs': unknown key (known: servers, name, ...)
//   environment STREAM_ADMIN_NATS_MAX_PENDING_ACKS='many': expected an unsigned integer
//
// YAML keys are the proto field names. Scalars overwrite, maps merge into the
// existing sub-message, sequences replace the whole repeated field.
//
// Environment variables name a field path in upper case joined by '_', after
// the prefix: STREAM_ADMIN_SERVER_GRPC_LISTEN sets server.grpc_listen. Repeated
// scalars take a comma-separated list. A STREAM_ADMIN_* variable that names no
// field is an error (typos must not be ignored), except those in `reserved`.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>

#include "absl/status/status.h"

namespace sa::config {

inline constexpr std::string_view kEnvPrefix = "STREAM_ADMIN_";

absl::Status MergeYamlFile(const std::string& path, google::protobuf::Message* msg);
absl::Status MergeYamlString(std::string_view yaml, std::string_view source_name,
                             google::protobuf::Message* msg);

absl::Status ApplyEnvironment(const std::map<std::string, std::string>& env,
                              google::protobuf::Message* msg,
                              const std::set<std::string>& reserved = {},
                              std::string_view prefix = kEnvPrefix);

// The process environment as a map.
std::map<std::string, std::string> ProcessEnvironment();

// JSON of the message with every field marked [(streamadmin.config.v1.secret) = true]
// replaced by "***" when set. Default values are included, so this is the
// effective configuration.
std::string ToRedactedJson(const google::protobuf::Message& msg);

// YAML text of the same (for --print-config).
std::string ToRedactedYaml(const google::protobuf::Message& msg);

}  // namespace sa::config
