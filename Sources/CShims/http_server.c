#define _GNU_SOURCE
#include "cshims_http.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

/*
 * Threading: each daemon (listen address) runs libmicrohttpd's epoll event loop on its own internal
 * thread(s). Event threads never run a handler: once a request is complete its connection is suspended
 * and the request goes to the pool's worker threads; the worker calls the handler, then resumes the
 * connection, and the event thread queues the answer. Idle keep-alive connections cost a socket and a
 * small buffer, not a thread.
 *
 * Framing: libmicrohttpd parses the request line and headers. The first call of the access handler,
 * after the headers and before any body byte is read or `100 Continue` is sent, checks what it lets
 * through (RFC 9112: both Content-Length and Transfer-Encoding, two lengths, header names that are not
 * tokens, codings other than chunked, Host) and refuses with 400 and a closed connection. What
 * libmicrohttpd refuses itself (request line, sizes, version, chunk syntax) it answers through
 * MHD_queue_response, which is called through the PLT and so reaches the definition at the end of this
 * file first; that one swaps its HTML body for the JSON error body of our daemons' refusals.
 */

struct refusal_text {
    unsigned int status;
    char *code;
    char *message;
    int retryable;
};

enum job_state { JOB_NONE = 0, JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_CANCELLED };

struct request_state;

struct cashier_http_pool {
    pthread_mutex_t lock;
    /// Signalled when a job is queued or the pool shuts down.
    pthread_cond_t work;
    /// Signalled when a job of any daemon is finished (its connection resumed).
    pthread_cond_t finished;
    struct request_state *head, *tail;
    unsigned int max_workers, workers, idle_workers;
    /// Requests queued and not yet taken by a worker. An idle worker is not yet counted as busy when it is
    /// woken, so a new worker is started whenever the queue would hold more requests than there are idle
    /// workers: otherwise a burst arriving at one idle worker would be handled one request at a time.
    unsigned int pending;
    pthread_t *threads;
    int shutting_down;
    /// Connections open on all daemons of the pool, and the most it keeps open at once.
    unsigned int open, budget;
    struct cashier_http_server *servers;
    unsigned int server_count;
    struct refusal_text refusals[CASHIER_HTTP_REFUSAL_COUNT];
};

#define SERVER_MAGIC 0x63687470u /* "chtp": marks the socket context of our daemons' connections */

struct cashier_http_server {
    unsigned int magic;
    struct MHD_Daemon *daemon;
    cashier_http_pool *pool;
    cashier_http_handler handler;
    void *context;
    size_t max_body_bytes;
    uint16_t port;
    MHD_socket listen_fd;
    int quiesced;
    /// Set once stop has waited: requests no worker has taken are answered 503 instead of queued.
    int stopping;
    /// Guarded by the pool's lock: connections open on this daemon, requests handed to workers and not
    /// yet resumed, and the link in the pool's list of daemons.
    unsigned int open;
    unsigned long jobs;
    struct cashier_http_server *next;
    /// Requests between their headers being checked and their completion notice.
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned long in_flight;
    /// The first message MHD logs while starting, to explain a failure; later messages are dropped.
    char startup_message[256];
    int log_closed;
};

/// Per connection, in MHD's socket context: whose connection it is, and a framing refusal found for the
/// request being read (`lookup_hook`), reset at each request line.
struct connection_context {
    unsigned int magic;
    struct cashier_http_server *server;
    int refused;
    cashier_http_refusal_kind refusal;
    const char *detail;
};

struct cashier_http_response {
    unsigned int status;
    uint8_t *body;
    size_t body_length;
    cashier_http_pair *headers;
    size_t header_count;
    size_t header_capacity;
};

/// A growable list of pairs filled by MHD_get_connection_values.
struct pair_list {
    cashier_http_pair *items;
    size_t count;
    size_t capacity;
    int failed;
};

/// Per-request state kept in MHD's `req_cls`, from the request line to the completion notice.
struct request_state {
    struct cashier_http_server *server;
    struct MHD_Connection *connection;
    int checked;
    int counted;
    uint8_t *body;
    size_t length;
    size_t capacity;
    int too_large;
    /// Guarded by the pool's lock.
    enum job_state job;
    struct request_state *next;
    /// What the worker hands the handler, gathered on the event thread before the connection is suspended.
    struct pair_list headers, query;
    char *path;
    char *raw_path;
    char remote[INET6_ADDRSTRLEN + 1];
    cashier_http_request request;
    cashier_http_response response;
};

typedef enum MHD_Result (*queue_response_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
static queue_response_fn real_queue_response;
static pthread_once_t real_queue_once = PTHREAD_ONCE_INIT;
static void find_real_queue_response(void) {
    real_queue_response = (queue_response_fn)dlsym(RTLD_NEXT, "MHD_queue_response");
}
static queue_response_fn queue_response(void) {
    pthread_once(&real_queue_once, find_real_queue_response);
    return real_queue_response;
}

// MARK: - Pairs and responses

static void pair_list_append(struct pair_list *list, const char *name, const char *value) {
    if (list->failed) return;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        cashier_http_pair *items = realloc(list->items, capacity * sizeof *items);
        if (!items) { list->failed = 1; return; }
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count].name = name ? name : "";
    list->items[list->count].value = value ? value : "";
    list->count++;
}

static enum MHD_Result collect_pair(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    pair_list_append(cls, key, value);
    return MHD_YES;
}

void cashier_http_response_set(cashier_http_response *response, unsigned int status,
                               const uint8_t *body, size_t body_length) {
    free(response->body);
    response->body = NULL;
    response->body_length = 0;
    response->status = status;
    if (body_length > 0) {
        response->body = malloc(body_length);
        if (!response->body) { response->status = 500; return; }
        memcpy(response->body, body, body_length);
        response->body_length = body_length;
    }
}

/// RFC 9110 tchar: the bytes a header name (a token) may hold.
static int is_token_byte(unsigned char c) {
    if (c >= '0' && c <= '9') return 1;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char *text) {
    if (!text || !*text) return 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (!is_token_byte(*p)) return 0;
    }
    return 1;
}

/// True when `name` is a non-empty HTTP token and `value` has no line breaks.
static int header_is_valid(const char *name, const char *value) {
    if (!is_token(name) || !value) return 0;
    for (const char *p = value; *p; p++) {
        if (*p == '\r' || *p == '\n') return 0;
    }
    return 1;
}

int cashier_http_response_add_header(cashier_http_response *response, const char *name, const char *value) {
    if (!header_is_valid(name, value)) return 0;
    if (response->header_count == response->header_capacity) {
        size_t capacity = response->header_capacity ? response->header_capacity * 2 : 8;
        cashier_http_pair *headers = realloc(response->headers, capacity * sizeof *headers);
        if (!headers) return 0;
        response->headers = headers;
        response->header_capacity = capacity;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) { free(n); free(v); return 0; }
    response->headers[response->header_count].name = n;
    response->headers[response->header_count].value = v;
    response->header_count++;
    return 1;
}

static void response_free(cashier_http_response *response) {
    for (size_t i = 0; i < response->header_count; i++) {
        free((void *)response->headers[i].name);
        free((void *)response->headers[i].value);
    }
    free(response->headers);
    free(response->body);
    memset(response, 0, sizeof *response);
}

// MARK: - Refusals

/// Appends `text` as the inside of a JSON string; returns the new length, or `capacity` when it did not fit.
static size_t json_append_string(char *out, size_t length, size_t capacity, const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p && length < capacity; p++) {
        char escaped[8];
        const char *piece = escaped;
        if (*p == '"') piece = "\\\"";
        else if (*p == '\\') piece = "\\\\";
        else if (*p < 0x20) snprintf(escaped, sizeof escaped, "\\u%04x", *p);
        else { escaped[0] = (char)*p; escaped[1] = '\0'; }
        size_t n = strlen(piece);
        if (length + n >= capacity) return capacity;
        memcpy(out + length, piece, n);
        length += n;
    }
    return length;
}

/// The JSON error body, keys in sorted order as the service writes them.
static size_t format_refusal(const struct refusal_text *text, const char *detail, char *out, size_t capacity) {
    size_t n = (size_t)snprintf(out, capacity, "{\"error\":{\"code\":\"");
    n = json_append_string(out, n, capacity, text->code ? text->code : "");
    if (n < capacity) n += (size_t)snprintf(out + n, capacity - n, "\",\"detail\":\"");
    if (n < capacity) n = json_append_string(out, n, capacity, detail ? detail : "");
    if (n < capacity) n += (size_t)snprintf(out + n, capacity - n, "\",\"message\":\"");
    if (n < capacity) n = json_append_string(out, n, capacity, text->message ? text->message : "");
    if (n < capacity) n += (size_t)snprintf(out + n, capacity - n, "\",\"retryable\":%s}}", text->retryable ? "true" : "false");
    return n < capacity ? n : 0;
}

/// A refusal as an MHD response that closes the connection; NULL when out of memory.
static struct MHD_Response *make_refusal(const cashier_http_pool *pool, cashier_http_refusal_kind kind,
                                         const char *detail, unsigned int *status) {
    const struct refusal_text *text = &pool->refusals[kind];
    char body[1024];
    size_t length = format_refusal(text, detail, body, sizeof body);
    struct MHD_Response *response = MHD_create_response_from_buffer(length, body, MHD_RESPMEM_MUST_COPY);
    if (!response) return NULL;
    (void)MHD_add_response_header(response, "Content-Type", "application/json");
    (void)MHD_add_response_header(response, "Cache-Control", "no-store");
    (void)MHD_add_response_header(response, "Connection", "close");
    if (text->retryable) (void)MHD_add_response_header(response, "Retry-After", "1");
    *status = text->status;
    return response;
}

static enum MHD_Result queue_refusal(struct cashier_http_server *server, struct MHD_Connection *connection,
                                     cashier_http_refusal_kind kind, const char *detail) {
    unsigned int status = 500;
    struct MHD_Response *response = make_refusal(server->pool, kind, detail, &status);
    if (!response) return MHD_NO;
    enum MHD_Result result = queue_response()(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

/// The context of a connection of one of our daemons; NULL for anyone else's.
static struct connection_context *our_connection(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct connection_context *context = info ? (struct connection_context *)info->socket_context : NULL;
    return context && context->magic == SERVER_MAGIC ? context : NULL;
}

/// Which of our refusals stands for a status libmicrohttpd chose itself, and what to say about it.
static cashier_http_refusal_kind kind_for_status(const cashier_http_pool *pool, unsigned int status,
                                                 const char **detail) {
    switch (status) {
    case 400: *detail = "the request line, a header line, Content-Length or the chunked framing is not valid HTTP/1.1"; break;
    case 413: *detail = "the declared length of the body or of a chunk is beyond what is read"; break;
    case 414: *detail = "the request line does not fit in the connection's buffer"; break;
    case 431: *detail = "the request head does not fit in the connection's buffer"; break;
    case 505: *detail = "only HTTP/1.x is spoken"; break;
    default: *detail = "the request could not be answered"; break;
    }
    // Stopping shares its status (503) with nothing MHD sends, and is only ever chosen by us.
    for (int kind = 0; kind < CASHIER_HTTP_REFUSAL_COUNT; kind++) {
        if (kind != CASHIER_HTTP_REFUSAL_STOPPING && pool->refusals[kind].status == status) {
            return (cashier_http_refusal_kind)kind;
        }
    }
    return status >= 500 ? CASHIER_HTTP_REFUSAL_INTERNAL : CASHIER_HTTP_REFUSAL_MALFORMED;
}

/// Every response libmicrohttpd queues by itself goes through here (it calls its own exported function
/// through the PLT). On a connection of one of our daemons, an error answer (libmicrohttpd's HTML page
/// or empty body) is replaced by our JSON refusal with the same status; libmicrohttpd still closes the
/// connection after it. Our own responses call the real function directly and never come here.
enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response) {
    queue_response_fn real = queue_response();
    if (!real) return MHD_NO;
    if (connection && status_code >= 400) {
        struct connection_context *context = our_connection(connection);
        struct cashier_http_server *server = context ? context->server : NULL;
        if (server) {
            const char *detail = "";
            cashier_http_refusal_kind kind = kind_for_status(server->pool, status_code, &detail);
            unsigned int ignored = 0;
            struct MHD_Response *json = make_refusal(server->pool, kind, detail, &ignored);
            if (json) {
                enum MHD_Result result = real(connection, status_code, json);
                MHD_destroy_response(json);
                return result;
            }
        }
    }
    return real(connection, status_code, response);
}

// MARK: - Framing

struct framing_scan {
    int bad_name;
    int bad_value;
    unsigned int content_lengths, transfer_encodings, hosts;
    const char *content_length;
    const char *transfer_encoding;
    const char *expect;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    struct framing_scan *scan = cls;
    if (!is_token(key)) scan->bad_name = 1;
    if (value && strchr(value, '\r')) scan->bad_value = 1;
    if (!key) return MHD_YES;
    if (strcasecmp(key, "Content-Length") == 0) {
        scan->content_lengths++;
        scan->content_length = value ? value : "";
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        scan->transfer_encodings++;
        scan->transfer_encoding = value ? value : "";
    } else if (strcasecmp(key, "Host") == 0) {
        scan->hosts++;
    } else if (strcasecmp(key, "Expect") == 0) {
        scan->expect = value ? value : "";
    }
    return MHD_YES;
}

static int is_decimal(const char *text, unsigned long long *value) {
    if (!text || !*text) return 0;
    unsigned long long n = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        unsigned long long digit = (unsigned long long)(*p - '0');
        n = n > (~0ULL - digit) / 10 ? ~0ULL : n * 10 + digit;
    }
    *value = n;
    return 1;
}

/// Checks what libmicrohttpd let through; returns 0 when the framing is sound, else the refusal. With
/// `version` NULL (not known yet) only the checks that do not depend on it are made.
static int check_framing(const struct cashier_http_server *server, struct MHD_Connection *connection,
                         const char *version, cashier_http_refusal_kind *kind, const char **detail) {
    struct framing_scan scan = {0};
    MHD_get_connection_values(connection, MHD_HEADER_KIND, scan_header, &scan);
    int http10 = version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
    unsigned long long length = 0;
    *kind = CASHIER_HTTP_REFUSAL_MALFORMED;
    if (scan.bad_name) *detail = "a header name is not a token (whitespace before the colon?)";
    else if (scan.bad_value) *detail = "a header value holds a bare CR";
    else if (scan.content_lengths && scan.transfer_encodings) *detail = "Content-Length and Transfer-Encoding together";
    else if (scan.content_lengths > 1) *detail = "more than one Content-Length";
    else if (scan.content_lengths && !is_decimal(scan.content_length, &length)) *detail = "Content-Length is not one decimal number";
    else if (scan.content_lengths && length == ~0ULL) {
        *kind = CASHIER_HTTP_REFUSAL_BODY_TOO_LARGE;
        *detail = "the declared Content-Length is beyond what can be counted";
    } else if (scan.transfer_encodings > 1 || (scan.transfer_encodings && strcasecmp(scan.transfer_encoding, "chunked") != 0)) {
        *detail = "a Transfer-Encoding other than chunked";
    } else if (!version) return 0;
    else if (scan.transfer_encodings && http10) *detail = "Transfer-Encoding in an HTTP/1.0 request";
    else if (!http10 && scan.hosts == 0) *detail = "an HTTP/1.1 request needs a Host header";
    else if (scan.hosts > 1) *detail = "more than one Host header";
    else if (scan.expect && strcasecmp(scan.expect, "100-continue") == 0 && length > server->max_body_bytes) {
        *kind = CASHIER_HTTP_REFUSAL_BODY_TOO_LARGE;
        *detail = "the declared Content-Length is beyond the body limit; the body was not read";
    } else return 0;
    return 1;
}

typedef enum MHD_Result (*lookup_fn)(struct MHD_Connection *, enum MHD_ValueKind, const char *, size_t,
                                     const char **, size_t *);
static lookup_fn real_lookup;
static pthread_once_t real_lookup_once = PTHREAD_ONCE_INIT;
static void find_real_lookup(void) { real_lookup = (lookup_fn)dlsym(RTLD_NEXT, "MHD_lookup_connection_value_n"); }

static int key_is(const char *key, size_t key_size, const char *name) {
    return key_size == strlen(name) && strncasecmp(key, name, key_size) == 0;
}

/// libmicrohttpd looks up Cookie, Transfer-Encoding and Content-Length itself once the head is in, before
/// the access handler's first call; a Content-Length it cannot read it answers with a response whose head
/// it writes twice (0.9.75), and it takes the first of two lengths. On our connections this hook checks
/// the framing at the Transfer-Encoding lookup. When it is bad the refusal is kept for the access handler's
/// first call to send, and both length headers are hidden, so libmicrohttpd reads no body and sends
/// nothing of its own; the connection closes after the refusal. Cookies are never parsed (nothing here
/// uses them). Like MHD_queue_response, this is reached through libmicrohttpd's PLT.
enum MHD_Result MHD_lookup_connection_value_n(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                              const char *key, size_t key_size, const char **value_ptr,
                                              size_t *value_size_ptr) {
    pthread_once(&real_lookup_once, find_real_lookup);
    if (!real_lookup) return MHD_NO;
    if (connection && key && kind == MHD_HEADER_KIND) {
        struct connection_context *context = our_connection(connection);
        if (context) {
            if (key_is(key, key_size, "Cookie")) return MHD_NO;
            int encoding = key_is(key, key_size, "Transfer-Encoding");
            if (encoding && !context->refused) {
                context->refused = check_framing(context->server, connection, NULL, &context->refusal, &context->detail);
            }
            if (context->refused && (encoding || key_is(key, key_size, "Content-Length"))) return MHD_NO;
        }
    }
    return real_lookup(connection, kind, key, key_size, value_ptr, value_size_ptr);
}

// MARK: - Requests

/// Appends upload bytes, keeping at most `max` and flagging the rest as discarded.
static void request_append_body(struct request_state *state, const char *data, size_t size, size_t max) {
    size_t room = state->length < max ? max - state->length : 0;
    size_t take = size < room ? size : room;
    if (take < size) state->too_large = 1;
    if (take == 0) return;
    if (state->length + take > state->capacity) {
        size_t capacity = state->capacity ? state->capacity : 1024;
        while (capacity < state->length + take) capacity *= 2;
        if (capacity > max) capacity = max;
        uint8_t *body = realloc(state->body, capacity);
        if (!body) { state->too_large = 1; return; }
        state->body = body;
        state->capacity = capacity;
    }
    memcpy(state->body + state->length, data, take);
    state->length += take;
}

static void format_remote_address(struct MHD_Connection *connection, char *out, size_t capacity) {
    out[0] = '\0';
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return;
    const struct sockaddr *address = info->client_addr;
    if (address->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)address)->sin_addr, out, (socklen_t)capacity);
    } else if (address->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)address)->sin6_addr, out, (socklen_t)capacity);
    }
}

/// Gathers the request for the worker; pointers into MHD's memory stay valid until the completion notice.
static int build_request(struct request_state *state, struct MHD_Connection *connection, const char *url,
                         const char *method) {
    MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_pair, &state->headers);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, collect_pair, &state->query);
    format_remote_address(connection, state->remote, sizeof state->remote);
    state->raw_path = strdup(url ? url : "/");
    state->path = strdup(url ? url : "/");
    if (state->headers.failed || state->query.failed || !state->raw_path || !state->path) return 0;
    MHD_http_unescape(state->path);
    state->request = (cashier_http_request){
        .method = method ? method : "",
        .path = state->path,
        .raw_path = state->raw_path,
        .query = state->query.items,
        .query_count = state->query.count,
        .headers = state->headers.items,
        .header_count = state->headers.count,
        .body = state->body ? state->body : (const uint8_t *)"",
        .body_length = state->length,
        .body_too_large = state->too_large,
        .remote_address = state->remote,
    };
    return 1;
}

static void state_free(struct request_state *state) {
    free(state->body);
    free(state->headers.items);
    free(state->query.items);
    free(state->path);
    free(state->raw_path);
    response_free(&state->response);
    free(state);
}

static void *worker_main(void *argument);

/// Hands a complete request to the workers; the caller has suspended its connection. Returns 0 when no
/// worker thread exists or can be started.
static int submit(struct request_state *state) {
    cashier_http_pool *pool = state->server->pool;
    pthread_mutex_lock(&pool->lock);
    if (pool->pending + 1 > pool->idle_workers && pool->workers < pool->max_workers) {
        if (pthread_create(&pool->threads[pool->workers], NULL, worker_main, pool) == 0) pool->workers++;
    }
    if (pool->workers == 0) {
        pthread_mutex_unlock(&pool->lock);
        return 0;
    }
    state->job = JOB_QUEUED;
    state->next = NULL;
    if (pool->tail) pool->tail->next = state; else pool->head = state;
    pool->tail = state;
    pool->pending++;
    state->server->jobs++;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    return 1;
}

static void *worker_main(void *argument) {
    cashier_http_pool *pool = argument;
    (void)pthread_setname_np(pthread_self(), "http-worker");
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->head && !pool->shutting_down) {
            pool->idle_workers++;
            pthread_cond_wait(&pool->work, &pool->lock);
            pool->idle_workers--;
        }
        if (!pool->head) break;
        struct request_state *state = pool->head;
        pool->head = state->next;
        if (!pool->head) pool->tail = NULL;
        pool->pending--;
        state->job = JOB_RUNNING;
        pthread_mutex_unlock(&pool->lock);

        struct cashier_http_server *server = state->server;
        struct MHD_Connection *connection = state->connection;
        server->handler(server->context, &state->request, &state->response);

        pthread_mutex_lock(&pool->lock);
        state->job = JOB_DONE;
        pthread_mutex_unlock(&pool->lock);
        // From here on the event thread may answer and free `state`.
        MHD_resume_connection(connection);
        pthread_mutex_lock(&pool->lock);
        server->jobs--;
        pthread_cond_broadcast(&pool->finished);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/// Queues the handler's response on the event thread, once the worker has resumed the connection.
static enum MHD_Result answer(struct cashier_http_server *server, struct MHD_Connection *connection,
                              struct request_state *state) {
    cashier_http_response *response = &state->response;
    if (response->status < 100 || response->status > 999) response->status = 500;
    struct MHD_Response *mhd = MHD_create_response_from_buffer(
        response->body_length, response->body ? (void *)response->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!mhd) return MHD_NO;
    for (size_t i = 0; i < response->header_count; i++) {
        (void)MHD_add_response_header(mhd, response->headers[i].name, response->headers[i].value);
    }
    // While the server stops, keep-alive clients are told to go, so they do not hold it up.
    if (__atomic_load_n(&server->quiesced, __ATOMIC_ACQUIRE)) (void)MHD_add_response_header(mhd, "Connection", "close");
    enum MHD_Result result = queue_response()(connection, response->status, mhd);
    MHD_destroy_response(mhd);
    response_free(response);
    return result;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **req_cls) {
    struct cashier_http_server *server = cls;
    struct request_state *state = *req_cls;
    if (!state) {
        state = calloc(1, sizeof *state);
        if (!state) return MHD_NO;
        state->server = server;
        state->connection = connection;
        *req_cls = state;
    }
    if (!state->checked) {
        // First call: the head is in, no body byte has been read and no `100 Continue` sent.
        state->checked = 1;
        state->counted = 1;
        pthread_mutex_lock(&server->lock);
        server->in_flight++;
        pthread_mutex_unlock(&server->lock);
        struct connection_context *context = our_connection(connection);
        if (context && context->refused) return queue_refusal(server, connection, context->refusal, context->detail);
        cashier_http_refusal_kind kind;
        const char *detail = NULL;
        if (check_framing(server, connection, version, &kind, &detail)) {
            return queue_refusal(server, connection, kind, detail);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        request_append_body(state, upload_data, *upload_data_size, server->max_body_bytes);
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&server->pool->lock);
    enum job_state job = state->job;
    pthread_mutex_unlock(&server->pool->lock);
    switch (job) {
    case JOB_NONE:
        if (__atomic_load_n(&server->stopping, __ATOMIC_ACQUIRE)) {
            return queue_refusal(server, connection, CASHIER_HTTP_REFUSAL_STOPPING, "the server is stopping");
        }
        if (!build_request(state, connection, url, method)) {
            return queue_refusal(server, connection, CASHIER_HTTP_REFUSAL_INTERNAL, "out of memory");
        }
        MHD_suspend_connection(connection);
        if (!submit(state)) {
            state->job = JOB_CANCELLED;
            MHD_resume_connection(connection);
        }
        return MHD_YES;
    case JOB_DONE:
        return answer(server, connection, state);
    case JOB_CANCELLED:
        return queue_refusal(server, connection, CASHIER_HTTP_REFUSAL_STOPPING,
                             "the server stopped before the request was handled; it did nothing");
    case JOB_QUEUED:
    case JOB_RUNNING:
    default:
        return MHD_YES;
    }
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
                              enum MHD_RequestTerminationCode code) {
    (void)connection;
    (void)code;
    struct cashier_http_server *server = cls;
    struct request_state *state = *req_cls;
    if (!state) return;
    *req_cls = NULL;
    int counted = state->counted;
    state_free(state);
    if (!counted) return;
    pthread_mutex_lock(&server->lock);
    if (server->in_flight > 0) server->in_flight--;
    if (server->in_flight == 0) pthread_cond_broadcast(&server->idle);
    pthread_mutex_unlock(&server->lock);
}

/// The path of the request being parsed on this thread, which the unescape callback leaves as sent.
static __thread const char *path_kept_raw;

/// Called once per request line, before libmicrohttpd splits off and decodes the query.
static void *request_line_seen(void *cls, const char *uri, struct MHD_Connection *connection) {
    struct cashier_http_server *server = cls;
    path_kept_raw = uri;
    struct connection_context *context = our_connection(connection);
    if (context) context->refused = 0;
    struct request_state *state = calloc(1, sizeof *state);
    if (!state) return NULL;
    state->server = server;
    state->connection = connection;
    return state;
}

/// Decodes query names and values as libmicrohttpd would; the path is kept as sent (`raw_path`) and decoded
/// into a copy for `path` (`build_request`).
static size_t unescape(void *cls, struct MHD_Connection *connection, char *text) {
    (void)cls;
    (void)connection;
    if (text == path_kept_raw) {
        path_kept_raw = NULL;
        return strlen(text);
    }
    return MHD_http_unescape(text);
}

// MARK: - Connection budget

/// Accepts a connection while the pool's daemons together stay within the budget, keeping room for each
/// other daemon's share so a flood on one listen address cannot take the descriptors the others need.
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *address, socklen_t length) {
    (void)address;
    (void)length;
    struct cashier_http_server *server = cls;
    cashier_http_pool *pool = server->pool;
    pthread_mutex_lock(&pool->lock);
    unsigned int share = pool->server_count ? pool->budget / (2 * pool->server_count) : 0;
    if (share > 1024) share = 1024;
    unsigned long reserved = 0;
    for (struct cashier_http_server *other = pool->servers; other; other = other->next) {
        if (other != server && other->open < share) reserved += share - other->open;
    }
    int allowed = (unsigned long)pool->open + reserved < pool->budget;
    pthread_mutex_unlock(&pool->lock);
    return allowed ? MHD_YES : MHD_NO;
}

static void connection_notice(void *cls, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
    (void)connection;
    struct cashier_http_server *server = cls;
    cashier_http_pool *pool = server->pool;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct connection_context *context = calloc(1, sizeof *context);
        if (context) {
            context->magic = SERVER_MAGIC;
            context->server = server;
        }
        *socket_context = context;
    } else {
        free(*socket_context);
        *socket_context = NULL;
    }
    pthread_mutex_lock(&pool->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pool->open++;
        server->open++;
    } else {
        if (pool->open > 0) pool->open--;
        if (server->open > 0) server->open--;
    }
    pthread_mutex_unlock(&pool->lock);
}

// MARK: - Pool

cashier_http_pool *cashier_http_pool_create(unsigned int max_workers, unsigned int connection_budget,
                                            const cashier_http_refusal_text *refusals) {
    cashier_http_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->max_workers = max_workers ? max_workers : 1;
    pool->budget = connection_budget ? connection_budget : 1;
    pool->threads = calloc(pool->max_workers, sizeof *pool->threads);
    int ok = pool->threads != NULL;
    for (int kind = 0; ok && kind < CASHIER_HTTP_REFUSAL_COUNT; kind++) {
        pool->refusals[kind].status = refusals[kind].status;
        pool->refusals[kind].code = strdup(refusals[kind].code ? refusals[kind].code : "");
        pool->refusals[kind].message = strdup(refusals[kind].message ? refusals[kind].message : "");
        pool->refusals[kind].retryable = refusals[kind].retryable;
        ok = pool->refusals[kind].code && pool->refusals[kind].message;
    }
    if (!ok || !queue_response()) {
        cashier_http_pool_destroy(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->finished, NULL);
    return pool;
}

void cashier_http_pool_destroy(cashier_http_pool *pool) {
    if (!pool) return;
    if (pool->threads) {
        pthread_mutex_lock(&pool->lock);
        pool->shutting_down = 1;
        pthread_cond_broadcast(&pool->work);
        unsigned int workers = pool->workers;
        pthread_mutex_unlock(&pool->lock);
        for (unsigned int i = 0; i < workers; i++) pthread_join(pool->threads[i], NULL);
        pthread_cond_destroy(&pool->finished);
        pthread_cond_destroy(&pool->work);
        pthread_mutex_destroy(&pool->lock);
    }
    for (int kind = 0; kind < CASHIER_HTTP_REFUSAL_COUNT; kind++) {
        free(pool->refusals[kind].code);
        free(pool->refusals[kind].message);
    }
    free(pool->threads);
    free(pool);
}

unsigned int cashier_http_pool_workers(const cashier_http_pool *pool) {
    pthread_mutex_lock((pthread_mutex_t *)&pool->lock);
    unsigned int workers = pool->workers;
    pthread_mutex_unlock((pthread_mutex_t *)&pool->lock);
    return workers;
}

unsigned int cashier_http_pool_open_connections(const cashier_http_pool *pool) {
    pthread_mutex_lock((pthread_mutex_t *)&pool->lock);
    unsigned int open = pool->open;
    pthread_mutex_unlock((pthread_mutex_t *)&pool->lock);
    return open;
}

static void pool_add_server(cashier_http_pool *pool, struct cashier_http_server *server) {
    pthread_mutex_lock(&pool->lock);
    server->next = pool->servers;
    pool->servers = server;
    pool->server_count++;
    pthread_mutex_unlock(&pool->lock);
}

static void pool_remove_server(cashier_http_pool *pool, struct cashier_http_server *server) {
    pthread_mutex_lock(&pool->lock);
    for (struct cashier_http_server **link = &pool->servers; *link; link = &(*link)->next) {
        if (*link == server) {
            *link = server->next;
            pool->server_count--;
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);
}

// MARK: - Daemons

/// Keeps the first message MHD logs while starting; runtime messages are about clients and are dropped.
static void startup_logger(void *cls, const char *format, va_list arguments) {
    struct cashier_http_server *server = cls;
    if (__atomic_exchange_n(&server->log_closed, 1, __ATOMIC_ACQ_REL)) return;
    char *text = server->startup_message;
    vsnprintf(text, sizeof server->startup_message, format, arguments);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '.')) text[--n] = '\0';
}

/// Opens, binds and listens on one socket, so bind errors come back with their errno.
static int open_listen_socket(const char *address, uint16_t port, int *is_ipv6, char *error, size_t capacity) {
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    socklen_t length;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof *v4;
        *is_ipv6 = 0;
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof *v6;
        *is_ipv6 = 1;
    } else {
        snprintf(error, capacity, "not an IPv4 or IPv6 address literal");
        return -1;
    }
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(error, capacity, "socket: %s", strerror(errno));
        return -1;
    }
    int on = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (*is_ipv6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&storage, length) != 0) {
        int saved = errno;
        close(fd);
        snprintf(error, capacity, "%s", saved == EADDRINUSE ? "address in use" : strerror(saved));
        return -1;
    }
    // A burst of connections waits in the kernel's queue rather than being dropped and retried.
    if (listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        snprintf(error, capacity, "listen: %s", strerror(saved));
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    return fd;
}

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
static void ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

cashier_http_server *cashier_http_start(const cashier_http_config *config, cashier_http_pool *pool,
                                        cashier_http_handler handler, void *context,
                                        char *error, size_t error_capacity) {
    pthread_once(&sigpipe_once, ignore_sigpipe);
    char reason[256] = "";
    if (!pool) {
        snprintf(error, error_capacity, "no worker pool");
        return NULL;
    }
    int tls = config->tls_certificate_pem && config->tls_private_key_pem;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(error, error_capacity, "libmicrohttpd was built without TLS support");
        return NULL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES) {
        snprintf(error, error_capacity, "libmicrohttpd was built without epoll support");
        return NULL;
    }
    int is_ipv6 = 0;
    int fd = open_listen_socket(config->address, config->port, &is_ipv6, reason, sizeof reason);
    if (fd < 0) {
        snprintf(error, error_capacity, "%s", reason);
        return NULL;
    }

    struct cashier_http_server *server = calloc(1, sizeof *server);
    if (!server) {
        close(fd);
        snprintf(error, error_capacity, "out of memory");
        return NULL;
    }
    server->magic = SERVER_MAGIC;
    server->pool = pool;
    server->handler = handler;
    server->context = context;
    server->max_body_bytes = config->max_body_bytes;
    // Ours again only once MHD_quiesce_daemon hands it back; until then MHD closes it when it stops.
    server->listen_fd = MHD_INVALID_SOCKET;
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->idle, NULL);
    pool_add_server(pool, server);

    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (is_ipv6) flags |= MHD_USE_IPv6;
    if (tls) flags |= MHD_USE_TLS;

    struct MHD_OptionItem options[16];
    size_t n = 0;
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)startup_logger, server};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, server};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connection_notice, server};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)request_line_seen, server};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                           (intptr_t)config->connection_timeout_seconds, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)config->connection_limit, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                           (intptr_t)config->per_ip_connection_limit, NULL};
    if (config->event_threads > 1) {
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)config->event_threads, NULL};
    }
    if (tls) {
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)config->tls_certificate_pem};
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)config->tls_private_key_pem};
    }
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    server->daemon = MHD_start_daemon(flags, 0, accept_policy, server, access_handler, server,
                                      MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!server->daemon) {
        // MHD closes a listen socket it was given when it fails to start; it is not ours any more.
        snprintf(error, error_capacity, "%s",
                 server->startup_message[0] ? server->startup_message : "libmicrohttpd failed to start");
        pool_remove_server(pool, server);
        pthread_cond_destroy(&server->idle);
        pthread_mutex_destroy(&server->lock);
        free(server);
        return NULL;
    }
    __atomic_store_n(&server->log_closed, 1, __ATOMIC_RELEASE);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : 0;
    if (server->port == 0) {
        struct sockaddr_storage bound;
        socklen_t length = sizeof bound;
        if (getsockname(fd, (struct sockaddr *)&bound, &length) == 0) {
            server->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                             : ((struct sockaddr_in *)&bound)->sin_port);
        }
    }
    return server;
}

uint16_t cashier_http_bound_port(const cashier_http_server *server) { return server->port; }

void cashier_http_quiesce(cashier_http_server *server) {
    if (!server || __atomic_exchange_n(&server->quiesced, 1, __ATOMIC_ACQ_REL)) return;
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    if (fd != MHD_INVALID_SOCKET) server->listen_fd = fd;
}

/// Waits up to `seconds` for the requests in flight on `server` to be answered.
static void wait_for_requests(struct cashier_http_server *server, unsigned int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&server->lock);
    while (server->in_flight > 0) {
        if (pthread_cond_timedwait(&server->idle, &server->lock, &deadline) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&server->lock);
}

/// After the stop timeout: how long the answers of handlers that finished late, and the refusals of
/// requests no worker took, get to go out before the connections are closed.
#define STOP_GRACE_SECONDS 2

void cashier_http_stop(cashier_http_server *server, unsigned int max_wait_seconds) {
    if (!server) return;
    cashier_http_quiesce(server);
    wait_for_requests(server, max_wait_seconds);
    __atomic_store_n(&server->stopping, 1, __ATOMIC_RELEASE);

    // Requests no worker has taken are answered 503 (they did nothing); handler calls under way are
    // waited for. libmicrohttpd must not stop while a connection is suspended.
    cashier_http_pool *pool = server->pool;
    struct request_state *cancelled = NULL;
    pthread_mutex_lock(&pool->lock);
    struct request_state **link = &pool->head;
    pool->tail = NULL;
    while (*link) {
        struct request_state *state = *link;
        if (state->server == server) {
            *link = state->next;
            pool->pending--;
            state->job = JOB_CANCELLED;
            state->next = cancelled;
            cancelled = state;
        } else {
            pool->tail = state;
            link = &state->next;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    unsigned long cancelled_count = 0;
    while (cancelled) {
        struct request_state *next = cancelled->next;
        cancelled_count++;
        MHD_resume_connection(cancelled->connection);
        pthread_mutex_lock(&pool->lock);
        server->jobs--;
        pthread_mutex_unlock(&pool->lock);
        cancelled = next;
    }
    pthread_mutex_lock(&pool->lock);
    unsigned long waited = server->jobs;
    while (server->jobs > 0) pthread_cond_wait(&pool->finished, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    if (waited > 0 || cancelled_count > 0) wait_for_requests(server, STOP_GRACE_SECONDS);

    MHD_stop_daemon(server->daemon);
    pool_remove_server(pool, server);
    if (server->listen_fd != MHD_INVALID_SOCKET) close(server->listen_fd);
    pthread_cond_destroy(&server->idle);
    pthread_mutex_destroy(&server->lock);
    free(server);
}

int cashier_http_raise_open_file_limit(uint64_t *before, uint64_t *after, uint64_t *hard) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    *before = (uint64_t)limit.rlim_cur;
    *hard = (uint64_t)limit.rlim_max;
    int result = 0;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        result = setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) *after = (uint64_t)limit.rlim_cur;
    return result;
}
