#include "marketdata/json_walk.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "internal/json.h"

namespace sa::md {
namespace {

namespace od = simdjson::ondemand;

simdjson::error_code WalkValue(od::value value, size_t* scalars, int depth) {
  if (depth > 256) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto error = value.get_object().get(object)) return error;
      for (auto field : object) {
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) return error;
        if (auto error = WalkValue(field.value(), scalars, depth + 1)) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array array;
      if (auto error = value.get_array().get(array)) return error;
      for (auto element : array) {
        od::value item;
        if (auto error = element.get(item)) return error;
        if (auto error = WalkValue(item, scalars, depth + 1)) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view text;
      ++*scalars;
      return value.get_string().get(text);
    }
    case od::json_type::number: {
      od::number number;
      ++*scalars;
      return value.get_number().get(number);
    }
    case od::json_type::boolean: {
      bool b;
      ++*scalars;
      return value.get_bool().get(b);
    }
    case od::json_type::null: {
      ++*scalars;
      bool is_null = false;
      if (auto error = value.is_null().get(is_null)) return error;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

}  // namespace

struct JsonWalker::Impl {
  internal::PaddedInput input;
  od::parser parser;
};

JsonWalker::JsonWalker() : impl_(std::make_unique<Impl>()) {}
JsonWalker::~JsonWalker() = default;

absl::StatusOr<size_t> JsonWalker::Walk(const std::string& json) {
  od::document doc;
  size_t scalars = 0;
  simdjson::error_code error = impl_->parser.iterate(impl_->input.View(json)).get(doc);
  if (!error) {
    od::value root;
    // A scalar document cannot be read as a value: handle the two shapes.
    od::json_type type;
    error = doc.type().get(type);
    if (!error && (type == od::json_type::object || type == od::json_type::array)) {
      error = doc.get_value().get(root);
      if (!error) error = WalkValue(root, &scalars, 0);
    } else if (!error) {
      std::string_view token;
      error = doc.raw_json_token().get(token);
      ++scalars;
    }
  }
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat("JSON: ", simdjson::error_message(error)));
  }
  return scalars;
}

}  // namespace sa::md
