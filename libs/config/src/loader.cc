#include "config/loader.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "streamadmin/config/v1/config.pb.h"

extern char** environ;

namespace sa::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string KnownKeys(const Descriptor* d) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i) names.push_back(d->field(i)->name());
  return absl::StrJoin(names, ", ");
}

// The note of a key the message no longer has ((streamadmin.config.v1.moved_key)
// "key: note"), or "" when `key` is not one of them.
std::string MovedKeyNote(const Descriptor* d, std::string_view key) {
  for (const std::string& entry : d->options().GetRepeatedExtension(streamadmin::config::v1::moved_key)) {
    const size_t colon = entry.find(':');
    if (colon != std::string::npos && std::string_view(entry).substr(0, colon) == key)
      return std::string(absl::StripLeadingAsciiWhitespace(absl::string_view(entry).substr(colon + 1)));
  }
  return "";
}

// The moved key an upper-case env suffix starts with ("WAREHOUSE_DSN" ->
// "warehouse"), with its note; {"", ""} when none.
std::pair<std::string, std::string> MovedEnvKey(const Descriptor* d, std::string_view rest) {
  for (const std::string& entry : d->options().GetRepeatedExtension(streamadmin::config::v1::moved_key)) {
    const std::string key = entry.substr(0, entry.find(':'));
    const std::string upper = absl::AsciiStrToUpper(key);
    if (rest == upper || rest.starts_with(upper + "_")) return {key, MovedKeyNote(d, key)};
  }
  return {"", ""};
}

const char* NodeKind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "null";
    default: return "nothing";
  }
}

// SetScalar of an integer field of C++ type T: `add` stores into a repeated
// field, `set` into a singular one. Unsigned types refuse a leading '-'.
template <typename T>
std::string SetInteger(const Reflection* r, Message* msg, const FieldDescriptor* f, const std::string& text,
                       void (Reflection::*add)(Message*, const FieldDescriptor*, T) const,
                       void (Reflection::*set)(Message*, const FieldDescriptor*, T) const) {
  T v;
  if constexpr (std::is_unsigned_v<T>) {
    if (absl::StartsWith(absl::StripAsciiWhitespace(text), "-") || !absl::SimpleAtoi(text, &v))
      return absl::StrCat("expected an unsigned integer, got '", text, "'");
  } else if (!absl::SimpleAtoi(text, &v)) {
    return absl::StrCat("expected an integer, got '", text, "'");
  }
  (r->*(f->is_repeated() ? add : set))(msg, f, v);
  return "";
}

// Parses scalar text into one value of the field's type and stores it (adds
// it when the field is repeated). Returns a reason on failure, "" on success.
std::string SetScalar(Message* msg, const FieldDescriptor* f, const std::string& text) {
  const Reflection* r = msg->GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      // protobuf's own check: what it would refuse to print later.
      if (f->type() == FieldDescriptor::TYPE_STRING &&
          !google::protobuf::internal::IsStructurallyValidUTF8(text.data(), static_cast<int>(text.size())))
        return "expected UTF-8 text";
      rep ? r->AddString(msg, f, text) : r->SetString(msg, f, text);
      return "";
    case FieldDescriptor::CPPTYPE_BOOL: {
      std::string t = absl::AsciiStrToLower(text);
      bool v;
      if (t == "true" || t == "yes" || t == "on" || t == "1") v = true;
      else if (t == "false" || t == "no" || t == "off" || t == "0") v = false;
      else return absl::StrCat("expected true or false, got '", text, "'");
      rep ? r->AddBool(msg, f, v) : r->SetBool(msg, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_INT32:
      return SetInteger<int32_t>(r, msg, f, text, &Reflection::AddInt32, &Reflection::SetInt32);
    case FieldDescriptor::CPPTYPE_INT64:
      return SetInteger<int64_t>(r, msg, f, text, &Reflection::AddInt64, &Reflection::SetInt64);
    case FieldDescriptor::CPPTYPE_UINT32:
      return SetInteger<uint32_t>(r, msg, f, text, &Reflection::AddUInt32, &Reflection::SetUInt32);
    case FieldDescriptor::CPPTYPE_UINT64:
      return SetInteger<uint64_t>(r, msg, f, text, &Reflection::AddUInt64, &Reflection::SetUInt64);
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return absl::StrCat("expected a number, got '", text, "'");
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        rep ? r->AddDouble(msg, f, v) : r->SetDouble(msg, f, v);
      } else {
        rep ? r->AddFloat(msg, f, static_cast<float>(v)) : r->SetFloat(msg, f, static_cast<float>(v));
      }
      return "";
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* ev = f->enum_type()->FindValueByName(text);
      if (!ev) {
        std::vector<std::string> names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i)
          names.push_back(f->enum_type()->value(i)->name());
        return absl::StrCat("unknown value '", text, "' (one of: ", absl::StrJoin(names, ", "), ")");
      }
      rep ? r->AddEnum(msg, f, ev) : r->SetEnum(msg, f, ev);
      return "";
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return "expected a map, got a scalar";
  }
  return "unsupported field type";
}

class YamlMerger {
 public:
  explicit YamlMerger(std::string source) : source_(std::move(source)) {}

  absl::Status Merge(const YAML::Node& node, const std::string& path, Message* msg) {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) return Error(node, path.empty() ? "<top>" : path,
                                    absl::StrCat("expected a map, got ", NodeKind(node)));
    const Descriptor* d = msg->GetDescriptor();
    const Reflection* r = msg->GetReflection();
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      std::string key_path = path.empty() ? key : absl::StrCat(path, ".", key);
      const FieldDescriptor* f = d->FindFieldByName(key);
      if (!f) {
        if (std::string note = MovedKeyNote(d, key); !note.empty()) return Error(kv.first, key_path, note);
        return Error(kv.first, key_path,
                     absl::StrCat("unknown key (known: ", KnownKeys(d), ")"));
      }
      const YAML::Node& v = kv.second;
      if (v.IsNull()) continue;  // "key:" with nothing keeps the default
      if (f->is_map()) return Error(v, key_path, "map fields are not supported in config");
      if (f->is_repeated()) {
        if (!v.IsSequence()) return Error(v, key_path, absl::StrCat("expected a list, got ", NodeKind(v)));
        r->ClearField(msg, f);
        for (size_t i = 0; i < v.size(); ++i) {
          std::string item_path = absl::StrCat(key_path, "[", i, "]");
          const YAML::Node& item = v[i];
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            if (auto st = Merge(item, item_path, r->AddMessage(msg, f)); !st.ok()) return st;
          } else {
            if (!item.IsScalar()) return Error(item, item_path, absl::StrCat("expected a scalar, got ", NodeKind(item)));
            if (auto why = SetScalar(msg, f, item.Scalar()); !why.empty()) return Error(item, item_path, why);
          }
        }
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        if (auto st = Merge(v, key_path, r->MutableMessage(msg, f)); !st.ok()) return st;
      } else {
        if (!v.IsScalar()) return Error(v, key_path, absl::StrCat("expected a scalar, got ", NodeKind(v)));
        if (auto why = SetScalar(msg, f, v.Scalar()); !why.empty()) return Error(v, key_path, why);
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const YAML::Node& at, const std::string& path, const std::string& why) {
    const YAML::Mark m = at.Mark();
    std::string where = source_;
    if (!m.is_null()) absl::StrAppend(&where, ":", m.line + 1, ":", m.column + 1);
    return absl::InvalidArgumentError(absl::StrCat("config ", where, ": key '", path, "': ", why));
  }
  std::string source_;
};

// Finds the field path named by an upper-case env suffix: NATS_MAX_PENDING_ACKS
// -> nats.max_pending_acks. Field names may contain '_', so every split is tried.
bool ResolveEnvPath(const Descriptor* d, std::string_view rest,
                    std::vector<const FieldDescriptor*>* path) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    std::string upper = absl::AsciiStrToUpper(f->name());
    if (!rest.starts_with(upper)) continue;
    std::string_view after = rest.substr(upper.size());
    if (after.empty()) {
      path->push_back(f);
      return true;
    }
    if (after[0] == '_' && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      path->push_back(f);
      if (ResolveEnvPath(f->message_type(), after.substr(1), path)) return true;
      path->pop_back();
    }
  }
  return false;
}

bool IsSecret(const FieldDescriptor* f) {
  return f->options().GetExtension(streamadmin::config::v1::secret);
}

void Redact(Message* msg) {
  const Reflection* r = msg->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*msg, &fields);
  for (const auto* f : fields) {
    if (IsSecret(f) && f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && !f->is_repeated()) {
      r->SetString(msg, f, "***");
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*msg, f); ++i) Redact(r->MutableRepeatedMessage(msg, f, i));
      } else {
        Redact(r->MutableMessage(msg, f));
      }
    }
  }
}

void EmitYaml(const YAML::Node& json_like, YAML::Emitter& out);

}  // namespace

absl::Status MergeYamlString(std::string_view yaml, std::string_view source_name, Message* msg) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config ", std::string(source_name), ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": invalid YAML: ", e.msg));
  }
  try {
    return YamlMerger(std::string(source_name)).Merge(root, "", msg);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config ", std::string(source_name), ": ", e.what()));
  }
}

absl::Status MergeYamlFile(const std::string& path, Message* msg) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("config ", path, ": cannot open file: ",
                                            std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return MergeYamlString(ss.str(), path, msg);
}

absl::Status ApplyEnvironment(const std::map<std::string, std::string>& env, Message* msg,
                              const std::set<std::string>& reserved, std::string_view prefix) {
  for (const auto& entry : env) {
    const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture those
    const std::string& value = entry.second;
    if (!std::string_view(name).starts_with(prefix) || reserved.count(name)) continue;
    std::vector<const FieldDescriptor*> path;
    std::string_view rest = std::string_view(name).substr(prefix.size());
    auto fail = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("environment ", name, "='", value, "': ", why));
    };
    if (!ResolveEnvPath(msg->GetDescriptor(), rest, &path)) {
      if (auto [key, note] = MovedEnvKey(msg->GetDescriptor(), rest); !key.empty())
        return fail(absl::StrCat("key '", key, "': ", note));
      return fail(absl::StrCat("names no config key (top-level keys: ",
                               KnownKeys(msg->GetDescriptor()), ")"));
    }
    Message* target = msg;
    for (size_t i = 0; i + 1 < path.size(); ++i)
      target = target->GetReflection()->MutableMessage(target, path[i]);
    const FieldDescriptor* f = path.back();
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return fail("a map or list of maps cannot be set from the environment; use the config file");
    }
    if (f->is_repeated()) {
      target->GetReflection()->ClearField(target, f);
      for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        if (auto why = SetScalar(target, f, std::string(absl::StripAsciiWhitespace(item))); !why.empty())
          return fail(why);
      }
    } else if (auto why = SetScalar(target, f, value); !why.empty()) {
      return fail(why);
    }
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

std::string ToRedactedJson(const Message& msg) {
  std::unique_ptr<Message> copy(msg.New());
  copy->CopyFrom(msg);
  Redact(copy.get());
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  opts.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(*copy, &out, opts);
  return out;
}

std::string ToRedactedYaml(const Message& msg) {
  // JSON is a subset of YAML; re-emit it in block style for readability.
  YAML::Node node = YAML::Load(ToRedactedJson(msg));
  YAML::Emitter out;
  EmitYaml(node, out);
  return std::string(out.c_str()) + "\n";
}

namespace {
void EmitYaml(const YAML::Node& n, YAML::Emitter& out) {
  if (n.IsMap()) {
    out << YAML::BeginMap;
    for (const auto& kv : n) {
      out << YAML::Key << kv.first.as<std::string>() << YAML::Value;
      EmitYaml(kv.second, out);
    }
    out << YAML::EndMap;
  } else if (n.IsSequence()) {
    out << YAML::BeginSeq;
    for (const auto& item : n) EmitYaml(item, out);
    out << YAML::EndSeq;
  } else if (n.IsScalar()) {
    out << n.Scalar();
  } else {
    out << YAML::Null;
  }
}
}  // namespace

}  // namespace sa::config
