#include "internal/http_fetch.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sa::sources::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

class HttpGetOp final : public HttpFetchHandle, public std::enable_shared_from_this<HttpGetOp> {
 public:
  HttpGetOp(asio::io_context& ioc, ssl::context& tls, HttpGetParams params, HttpCallback done)
      : params_(std::move(params)), done_(std::move(done)), resolver_(ioc), deadline_(ioc) {
    if (params_.url.tls) {
      tls_.emplace(ioc, tls);
    } else {
      plain_.emplace(ioc);
    }
  }

  void Run() {
    deadline_.expires_after(absl::ToChronoNanoseconds(params_.timeout));
    deadline_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) {
        self->Finish(absl::DeadlineExceededError(
            absl::StrCat("GET ", self->params_.url_text, ": no response within ",
                         absl::FormatDuration(self->params_.timeout))));
      }
    });
    resolver_.async_resolve(
        params_.url.host, params_.url.port,
        [self = shared_from_this()](error_code ec, tcp::resolver::results_type r) {
          self->OnResolve(ec, std::move(r));
        });
  }

  void Cancel() override {
    Finish(absl::CancelledError(absl::StrCat("GET ", params_.url_text, ": cancelled")));
  }

 private:
  beast::tcp_stream& Lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  absl::Status Failure(const std::string& what, const error_code& ec) {
    return absl::UnavailableError(
        absl::StrCat("GET ", params_.url_text, ": ", what, ": ", ec.message()));
  }

  void OnResolve(error_code ec, tcp::resolver::results_type results) {
    if (finished_) return;
    if (ec) return Finish(Failure("resolve", ec));
    Lowest().async_connect(
        results,
        [self = shared_from_this()](error_code ec, const tcp::endpoint&) { self->OnConnect(ec); });
  }

  void OnConnect(error_code ec) {
    if (finished_) return;
    if (ec) return Finish(Failure("connect", ec));
    if (!tls_) return Write();
    if (!SSL_set_tlsext_host_name(tls_->native_handle(), params_.url.host.c_str())) {
      return Finish(absl::UnavailableError(
          absl::StrCat("GET ", params_.url_text, ": tls: cannot set SNI host name")));
    }
    if (params_.tls_verify) {
      tls_->set_verify_mode(ssl::verify_peer);
      tls_->set_verify_callback(ssl::host_name_verification(params_.url.host));
    } else {
      tls_->set_verify_mode(ssl::verify_none);
    }
    tls_->async_handshake(ssl::stream_base::client, [self = shared_from_this()](error_code ec) {
      if (self->finished_) return;
      if (ec) return self->Finish(self->Failure("tls", ec));
      self->Write();
    });
  }

  void Write() {
    request_ = {http::verb::get, params_.url.target, 11};
    request_.set(http::field::host, params_.url.HostHeader());
    request_.set(http::field::user_agent, params_.user_agent);
    request_.set(http::field::accept, "application/json");
    request_.set(http::field::connection, "close");
    auto on_write = [self = shared_from_this()](error_code ec, size_t) {
      if (self->finished_) return;
      if (ec) return self->Finish(self->Failure("write", ec));
      self->Read();
    };
    if (tls_) {
      http::async_write(*tls_, request_, std::move(on_write));
    } else {
      http::async_write(*plain_, request_, std::move(on_write));
    }
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(params_.body_limit);
    auto on_read = [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); };
    if (tls_) {
      http::async_read(*tls_, buffer_, *parser_, std::move(on_read));
    } else {
      http::async_read(*plain_, buffer_, *parser_, std::move(on_read));
    }
  }

  void OnRead(error_code ec) {
    if (finished_) return;
    if (ec == http::error::body_limit) {
      return Finish(absl::ResourceExhaustedError(absl::StrCat(
          "GET ", params_.url_text, ": body larger than ", params_.body_limit, " bytes")));
    }
    if (ec) return Finish(Failure("read", ec));
    auto& res = parser_->get();
    const unsigned status = res.result_int();
    if (status < 200 || status >= 300) {
      return Finish(absl::UnavailableError(absl::StrCat("GET ", params_.url_text, ": HTTP ", status,
                                                        ": ", res.body().substr(0, 200))));
    }
    Finish(std::move(res.body()));
  }

  void Finish(absl::StatusOr<std::string> result) {
    if (finished_) return;
    finished_ = true;
    deadline_.cancel();
    resolver_.cancel();
    error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().socket().close(ignored);
    HttpCallback done = std::move(done_);
    done(std::move(result));
  }

  HttpGetParams params_;
  HttpCallback done_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<HttpFetchHandle> StartHttpGet(asio::io_context& ioc, ssl::context& tls,
                                              HttpGetParams params, HttpCallback done) {
  auto op = std::make_shared<HttpGetOp>(ioc, tls, std::move(params), std::move(done));
  op->Run();
  return op;
}

}  // namespace sa::sources::internal
