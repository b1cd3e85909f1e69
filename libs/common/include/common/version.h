#pragma once

namespace sa {
inline constexpr char kVersion[] = "0.1.0";
}  // namespace sa
