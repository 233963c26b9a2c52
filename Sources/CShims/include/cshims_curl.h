#ifndef CASHIER_CSHIMS_CURL_H
#define CASHIER_CSHIMS_CURL_H
#include <curl/curl.h>

/// curl_easy_setopt for options taking a long.
CURLcode cashier_curl_setopt_long(CURL *handle, CURLoption option, long value);
/// curl_easy_setopt for options taking a string or other pointer.
CURLcode cashier_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value);
/// curl_easy_setopt for CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION.
CURLcode cashier_curl_setopt_write_function(CURL *handle, CURLoption option,
                                            size_t (*fn)(char *, size_t, size_t, void *));
/// curl_easy_getinfo for long results.
CURLcode cashier_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
/// curl_easy_getinfo for double results.
CURLcode cashier_curl_getinfo_double(CURL *handle, CURLINFO info, double *value);
/// curl_global_init(CURL_GLOBAL_DEFAULT) exactly once per process, safe from any thread.
CURLcode cashier_curl_global_init_once(void);
/// curl_easy_getinfo for string results (the string belongs to libcurl; NULL when there is none).
CURLcode cashier_curl_getinfo_string(CURL *handle, CURLINFO info, const char **value);
#endif
