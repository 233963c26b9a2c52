#ifndef CASHIER_CSHIMS_HTTP_H
#define CASHIER_CSHIMS_HTTP_H
/// A small typed API over libmicrohttpd: one daemon per listen address, one thread per connection,
/// request bodies collected in C, and a single handler function that turns a request into a response.
#include <stddef.h>
#include <stdint.h>

/// One name/value pair (a header or a query argument); both NUL-terminated.
typedef struct cashier_http_pair {
    const char *name;
    const char *value;
} cashier_http_pair;

/// A complete request; every pointer is valid only during the handler call.
typedef struct cashier_http_request {
    const char *method;
    /// The URL path as MHD gives it (percent-decoded, without the query string).
    const char *path;
    const cashier_http_pair *query;
    size_t query_count;
    const cashier_http_pair *headers;
    size_t header_count;
    const uint8_t *body;
    size_t body_length;
    /// Non-zero when the body exceeded the maximum size; `body` then holds only the first bytes.
    int body_too_large;
    /// The peer's IP address as text ("127.0.0.1", "::1"), or "" when unknown.
    const char *remote_address;
} cashier_http_request;

/// Where the handler writes its response; owned by C.
typedef struct cashier_http_response cashier_http_response;

/// Sets the status code and body (copied).
void cashier_http_response_set(cashier_http_response *response, unsigned int status,
                               const uint8_t *body, size_t body_length);
/// Appends a header (copied); returns 0 when MHD refuses it (e.g. a newline in the value).
int cashier_http_response_add_header(cashier_http_response *response, const char *name, const char *value);

/// The one request handler, called on a connection thread of the daemon.
typedef void (*cashier_http_handler)(void *context, const cashier_http_request *request,
                                     cashier_http_response *response);

/// How to start one daemon.
typedef struct cashier_http_config {
    /// An IPv4 or IPv6 literal, e.g. "127.0.0.1", "::", "0.0.0.0".
    const char *address;
    /// 0 asks the kernel for an ephemeral port.
    uint16_t port;
    /// PEM certificate chain and private key; both NULL for plain HTTP.
    const char *tls_certificate_pem;
    const char *tls_private_key_pem;
    size_t max_body_bytes;
    unsigned int connection_timeout_seconds;
    unsigned int connection_limit;
    /// 0 means no per-IP limit.
    unsigned int per_ip_connection_limit;
} cashier_http_config;

typedef struct cashier_http_server cashier_http_server;

/// Starts listening. Returns NULL on failure with a readable reason in `error`.
cashier_http_server *cashier_http_start(const cashier_http_config *config, cashier_http_handler handler,
                                        void *context, char *error, size_t error_capacity);
/// The port actually bound.
uint16_t cashier_http_bound_port(const cashier_http_server *server);
/// Stops accepting, waits up to `max_wait_seconds` for in-flight requests to finish, then stops and frees.
void cashier_http_stop(cashier_http_server *server, unsigned int max_wait_seconds);
#endif
