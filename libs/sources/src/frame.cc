#include "sources/frame.h"

namespace sa::sources {

const char* SourceEventTypeName(SourceEventType type) {
  switch (type) {
    case SourceEventType::kConnected:
      return "connected";
    case SourceEventType::kDisconnected:
      return "disconnected";
    case SourceEventType::kStale:
      return "stale";
    case SourceEventType::kReconnecting:
      return "reconnecting";
    case SourceEventType::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace sa::sources
