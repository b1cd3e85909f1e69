// nats.c calls back into C++ objects through a `void* closure` it keeps for
// as long as the C object lives, which can be longer than the C++ object
// (callbacks are queued on nats.c threads). So the closure is never a
// pointer: it is an id in this registry. A callback resolves the id; once
// the owner unregisters, late callbacks resolve to nothing and are dropped.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace sa::bus::internal {

// Base of every object nats.c calls back into: counts running callbacks so
// the owner can wait for them before tearing down.
class CallbackTarget {
 public:
  virtual ~CallbackTarget() = default;

 private:
  template <typename T>
  friend class CallbackRegistry;
  std::mutex cb_mu_;
  std::condition_variable cb_cv_;
  int cb_running_ = 0;
};

template <typename T>
class CallbackRegistry {
 public:
  static CallbackRegistry& Instance() {
    static auto* registry = new CallbackRegistry();  // never destroyed: callbacks may run at exit
    return *registry;
  }

  void* Register(std::shared_ptr<T> target) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t id = ++next_id_;
    targets_[id] = std::move(target);
    return reinterpret_cast<void*>(static_cast<uintptr_t>(id));
  }

  // Held for the duration of one callback: resolves the closure, keeps the
  // target alive and counted as running.
  class Scope {
   public:
    explicit Scope(void* closure) {
      auto& reg = Instance();
      std::lock_guard<std::mutex> lock(reg.mu_);
      auto it = reg.targets_.find(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(closure)));
      if (it == reg.targets_.end()) return;
      target_ = it->second;
      std::lock_guard<std::mutex> cb_lock(target_->cb_mu_);
      ++target_->cb_running_;
      previous_ = current_;
      current_ = target_.get();
    }
    ~Scope() {
      if (target_ == nullptr) return;
      current_ = previous_;
      std::lock_guard<std::mutex> cb_lock(target_->cb_mu_);
      --target_->cb_running_;
      target_->cb_cv_.notify_all();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    T* get() const { return target_.get(); }

   private:
    std::shared_ptr<T> target_;
    const void* previous_ = nullptr;
  };

  // Stops callbacks to `closure`, then waits for running ones to return
  // (except one running on this very thread, which would deadlock).
  void Unregister(void* closure) {
    std::shared_ptr<T> target;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = targets_.find(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(closure)));
      if (it == targets_.end()) return;
      target = std::move(it->second);
      targets_.erase(it);
    }
    const int self = current_ == target.get() ? 1 : 0;
    std::unique_lock<std::mutex> cb_lock(target->cb_mu_);
    target->cb_cv_.wait(cb_lock, [&] { return target->cb_running_ <= self; });
  }

 private:
  CallbackRegistry() = default;
  std::mutex mu_;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<T>> targets_;
  static thread_local const void* current_;
};

template <typename T>
thread_local const void* CallbackRegistry<T>::current_ = nullptr;

}  // namespace sa::bus::internal
