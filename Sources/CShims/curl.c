#include "cshims_curl.h"

CURLcode cashier_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode cashier_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode cashier_curl_setopt_write_function(CURL *handle, CURLoption option,
                                            size_t (*fn)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(handle, option, fn);
}

CURLcode cashier_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode cashier_curl_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode cashier_curl_getinfo_string(CURL *handle, CURLINFO info, const char **value) {
    char *result = NULL;
    CURLcode code = curl_easy_getinfo(handle, info, &result);
    *value = result;
    return code;
}

#include <pthread.h>

static pthread_once_t cashier_curl_once = PTHREAD_ONCE_INIT;
static CURLcode cashier_curl_init_result = CURLE_OK;

static void cashier_curl_do_global_init(void) {
    cashier_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURLcode cashier_curl_global_init_once(void) {
    pthread_once(&cashier_curl_once, cashier_curl_do_global_init);
    return cashier_curl_init_result;
}
