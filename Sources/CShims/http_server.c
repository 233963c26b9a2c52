#include "cshims_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

struct cashier_http_server {
    struct MHD_Daemon *daemon;
    cashier_http_handler handler;
    void *context;
    size_t max_body_bytes;
    uint16_t port;
    /// Requests between their first byte of headers being parsed and their completion notice.
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned long in_flight;
    /// The first message MHD logs while starting, to explain a failure; later messages are dropped.
    char startup_message[256];
    int log_closed;
};

struct cashier_http_response {
    unsigned int status;
    uint8_t *body;
    size_t body_length;
    cashier_http_pair *headers;
    size_t header_count;
    size_t header_capacity;
};

/// Per-request state kept in MHD's `req_cls` between calls of the access handler.
struct request_state {
    uint8_t *body;
    size_t length;
    size_t capacity;
    int too_large;
};

/// A growable list of pairs filled by MHD_get_connection_values.
struct pair_list {
    cashier_http_pair *items;
    size_t count;
    size_t capacity;
    int failed;
};

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

/// True when `name` is a non-empty HTTP token and `value` has no line breaks.
static int header_is_valid(const char *name, const char *value) {
    if (!name || !value || !*name) return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p <= 32 || *p >= 127 || strchr("()<>@,;:\\\"/[]?={}", *p)) return 0;
    }
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
}

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

/// Builds the request, calls the handler once, and queues its response.
static enum MHD_Result dispatch(struct cashier_http_server *server, struct MHD_Connection *connection,
                                const char *url, const char *method, struct request_state *state) {
    struct pair_list headers = {0}, query = {0};
    MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_pair, &headers);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, collect_pair, &query);
    char remote[INET6_ADDRSTRLEN + 1];
    format_remote_address(connection, remote, sizeof remote);

    cashier_http_response response = {0};
    if (headers.failed || query.failed) {
        response.status = 500;
    } else {
        cashier_http_request request = {
            .method = method,
            .path = url ? url : "/",
            .query = query.items,
            .query_count = query.count,
            .headers = headers.items,
            .header_count = headers.count,
            .body = state->body ? state->body : (const uint8_t *)"",
            .body_length = state->length,
            .body_too_large = state->too_large,
            .remote_address = remote,
        };
        server->handler(server->context, &request, &response);
    }
    free(headers.items);
    free(query.items);

    if (response.status < 100 || response.status > 999) response.status = 500;
    struct MHD_Response *mhd = MHD_create_response_from_buffer(
        response.body_length, response.body ? (void *)response.body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!mhd) { response_free(&response); return MHD_NO; }
    for (size_t i = 0; i < response.header_count; i++) {
        (void)MHD_add_response_header(mhd, response.headers[i].name, response.headers[i].value);
    }
    enum MHD_Result result = MHD_queue_response(connection, response.status, mhd);
    MHD_destroy_response(mhd);
    response_free(&response);
    return result;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **req_cls) {
    (void)version;
    struct cashier_http_server *server = cls;
    struct request_state *state = *req_cls;
    if (!state) {
        state = calloc(1, sizeof *state);
        if (!state) return MHD_NO;
        *req_cls = state;
        pthread_mutex_lock(&server->lock);
        server->in_flight++;
        pthread_mutex_unlock(&server->lock);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        request_append_body(state, upload_data, *upload_data_size, server->max_body_bytes);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(server, connection, url, method, state);
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
                              enum MHD_RequestTerminationCode code) {
    (void)connection;
    (void)code;
    struct cashier_http_server *server = cls;
    struct request_state *state = *req_cls;
    if (!state) return;
    *req_cls = NULL;
    free(state->body);
    free(state);
    pthread_mutex_lock(&server->lock);
    if (server->in_flight > 0) server->in_flight--;
    if (server->in_flight == 0) pthread_cond_broadcast(&server->idle);
    pthread_mutex_unlock(&server->lock);
}

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
    if (listen(fd, 128) != 0) {
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

cashier_http_server *cashier_http_start(const cashier_http_config *config, cashier_http_handler handler,
                                        void *context, char *error, size_t error_capacity) {
    pthread_once(&sigpipe_once, ignore_sigpipe);
    char reason[256] = "";
    int tls = config->tls_certificate_pem && config->tls_private_key_pem;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(error, error_capacity, "libmicrohttpd was built without TLS support");
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
    server->handler = handler;
    server->context = context;
    server->max_body_bytes = config->max_body_bytes;
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->idle, NULL);

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG;
    if (is_ipv6) flags |= MHD_USE_IPv6;
    if (tls) flags |= MHD_USE_TLS;

    struct MHD_OptionItem options[10];
    size_t n = 0;
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)startup_logger, server};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, server};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                           (intptr_t)config->connection_timeout_seconds, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)config->connection_limit, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                           (intptr_t)config->per_ip_connection_limit, NULL};
    if (tls) {
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)config->tls_certificate_pem};
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)config->tls_private_key_pem};
    }
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, server,
                                      MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!server->daemon) {
        // MHD closes a listen socket it was given when it fails to start; it is not ours any more.
        snprintf(error, error_capacity, "%s",
                 server->startup_message[0] ? server->startup_message : "libmicrohttpd failed to start");
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

void cashier_http_stop(cashier_http_server *server, unsigned int max_wait_seconds) {
    if (!server) return;
    MHD_socket listen_fd = MHD_quiesce_daemon(server->daemon);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += max_wait_seconds;
    pthread_mutex_lock(&server->lock);
    while (server->in_flight > 0) {
        if (pthread_cond_timedwait(&server->idle, &server->lock, &deadline) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&server->lock);
    MHD_stop_daemon(server->daemon);
    if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
    pthread_cond_destroy(&server->idle);
    pthread_mutex_destroy(&server->lock);
    free(server);
}
