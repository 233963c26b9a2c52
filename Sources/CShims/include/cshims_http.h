#ifndef CASHIER_CSHIMS_HTTP_H
#define CASHIER_CSHIMS_HTTP_H
/// A small typed API over libmicrohttpd: one daemon per listen address, each with its own epoll event
/// thread(s); request bodies collected in C; strict HTTP/1.1 framing checked before a handler sees a
/// request; and a single handler function, run on a bounded pool of worker threads shared by the
/// daemons of one server, that turns a request into a response.
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
    /// The URL path percent-decoded, without the query string.
    const char *path;
    /// The URL path exactly as the client sent it (not decoded), without the query string.
    const char *raw_path;
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

/// The one request handler, called on a worker thread of the pool, never on an event thread.
typedef void (*cashier_http_handler)(void *context, const cashier_http_request *request,
                                     cashier_http_response *response);

/// The refusals the HTTP layer answers by itself, before any handler runs.
typedef enum cashier_http_refusal_kind {
    /// 400: request line, header syntax, ambiguous length (Content-Length with Transfer-Encoding, two
    /// lengths), a coding other than chunked, chunk syntax, a missing or repeated Host.
    CASHIER_HTTP_REFUSAL_MALFORMED = 0,
    /// 413: a declared length beyond the body limit, refused before `100 Continue`.
    CASHIER_HTTP_REFUSAL_BODY_TOO_LARGE,
    /// 414: a request line longer than the connection's buffer.
    CASHIER_HTTP_REFUSAL_URI_TOO_LONG,
    /// 431: a request head larger than the connection's buffer.
    CASHIER_HTTP_REFUSAL_HEADERS_TOO_LARGE,
    /// 505: an HTTP major version other than 1.
    CASHIER_HTTP_REFUSAL_VERSION,
    /// 500: the server could not build a response.
    CASHIER_HTTP_REFUSAL_INTERNAL,
    /// 503: the server stopped before a worker could take the request; it was not handled.
    CASHIER_HTTP_REFUSAL_STOPPING,
    CASHIER_HTTP_REFUSAL_COUNT
} cashier_http_refusal_kind;

/// How one refusal is answered: `{"error":{"code","detail","message","retryable"}}` with this status.
typedef struct cashier_http_refusal_text {
    unsigned int status;
    const char *code;
    const char *message;
    int retryable;
} cashier_http_refusal_text;

/// Worker threads and the connection budget shared by the daemons (listen addresses) of one server.
typedef struct cashier_http_pool cashier_http_pool;

/// `refusals` has CASHIER_HTTP_REFUSAL_COUNT entries, indexed by kind (copied). Worker threads are
/// started as requests need them, up to `max_workers`. The daemons using the pool together keep at most
/// `connection_budget` connections open, and each of them always has room for its share of it.
cashier_http_pool *cashier_http_pool_create(unsigned int max_workers, unsigned int connection_budget,
                                            const cashier_http_refusal_text *refusals);
/// Ends the worker threads and frees the pool; every daemon using it must be stopped first.
void cashier_http_pool_destroy(cashier_http_pool *pool);
/// Worker threads started so far.
unsigned int cashier_http_pool_workers(const cashier_http_pool *pool);
/// Connections open now on all daemons using the pool.
unsigned int cashier_http_pool_open_connections(const cashier_http_pool *pool);

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
    /// Event (epoll) threads of this daemon; 0 or 1 means one.
    unsigned int event_threads;
} cashier_http_config;

typedef struct cashier_http_server cashier_http_server;

/// Starts listening. Returns NULL on failure with a readable reason in `error`.
cashier_http_server *cashier_http_start(const cashier_http_config *config, cashier_http_pool *pool,
                                        cashier_http_handler handler, void *context,
                                        char *error, size_t error_capacity);
/// The port actually bound.
uint16_t cashier_http_bound_port(const cashier_http_server *server);
/// Stops accepting connections (the listen socket stays bound until `cashier_http_stop`); idempotent.
void cashier_http_quiesce(cashier_http_server *server);
/// Stops accepting, waits up to `max_wait_seconds` for requests in flight to be answered, always waits
/// for handler calls under way (requests no worker took yet are answered 503), then stops and frees.
void cashier_http_stop(cashier_http_server *server, unsigned int max_wait_seconds);

/// Raises the soft RLIMIT_NOFILE to the hard limit; reports the soft limit before and after and the hard
/// limit. Returns 0 on success.
int cashier_http_raise_open_file_limit(uint64_t *before, uint64_t *after, uint64_t *hard);
#endif
